"""Offer copy generation: versioned prompts, generator backends, validated OfferCopy.

The walking skeleton has one backend, a deterministic template generator; LLM backends (OpenAI-compatible
endpoints, a local model served on KServe) slot in behind the same ``generate`` signature.
"""
