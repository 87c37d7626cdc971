"""Offer copy generation: versioned prompts, generator backends, validated and guarded OfferCopy.

``registry`` (prompt versions, activation, audit) → ``backends`` (openai | hf | local) → ``writer`` (parse,
validate, ``guardrails``, retry, fallback to ``template``); the small GPT-style model is trained from the
offer catalogue (``corpus``, ``training``), run by ``local_model`` and registered in MLflow by ``model_store``;
``brand`` scores offer images with CLIP.
"""
