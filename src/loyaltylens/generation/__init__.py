"""Offer copy generation: versioned prompts, generator backends, validated and guarded OfferCopy.

``registry`` (prompt versions, activation, audit) → ``backends`` (openai | hf | local) → ``writer`` (parse,
validate, ``guardrails``, retry, fallback to ``template``); ``local_model`` is the small GPT-style model trained
from the offer catalogue and ``model_store`` its MLflow registry entry; ``brand`` scores offer images with CLIP.
"""
