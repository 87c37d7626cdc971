"""Generator backends behind one interface: chat messages + prompt variables in, raw model text out.

- ``openai``: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, KServe's Hugging Face runtime,
  or ``serving/generator``) through the official client, with its timeout, retries with exponential backoff
  and JSON mode (dropped for endpoints that refuse it).
- ``hf``: a local ``transformers`` causal LM loaded from a path (chat template if it has one).
- ``local``: the project's own small model (:mod:`loyaltylens.generation.local_model`), in-process.

Backends return text; parsing, validation, guardrails and retries are :mod:`loyaltylens.generation.writer`'s.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import InvalidInputError, LoyaltyLensError

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]


class CopyBackend(Protocol):
    name: str

    def complete(self, messages: Messages, variables: dict[str, str], parameters: dict) -> str:
        """The model's answer to ``messages`` (``variables``: the values they were rendered from)."""
        ...


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(
        self, base_url: str | None, model: str, timeout_s: float, max_retries: int, api_key: str | None = None
    ):
        from openai import OpenAI

        # Self-hosted endpoints ignore the key, but the client refuses to start without one.
        key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.client = OpenAI(base_url=base_url, api_key=key, timeout=timeout_s, max_retries=max_retries)
        self.model = model
        self._json_mode = True

    def complete(self, messages: Messages, variables: dict[str, str], parameters: dict) -> str:
        import openai

        request = {
            "model": self.model,
            "messages": messages,
            "temperature": parameters.get("temperature", 0.7),
            "max_tokens": parameters.get("max_tokens", 200),
        }
        if self._json_mode:
            try:
                return self._content(response_format={"type": "json_object"}, **request)
            except openai.BadRequestError as exc:
                if "response_format" not in str(exc):
                    raise
                logger.info("endpoint refuses JSON mode (%s); asking without it from now on", exc)
                self._json_mode = False
        return self._content(**request)

    def _content(self, **request) -> str:
        import openai

        try:
            response = self.client.chat.completions.create(**request)
        except openai.APIError as exc:
            raise LoyaltyLensError(f"generator endpoint {self.client.base_url} failed: {exc}") from exc
        return response.choices[0].message.content or ""


class HFBackend:
    """A ``transformers`` causal LM from a local path."""

    name = "hf"

    def __init__(self, model_path: Path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path).eval()

    def complete(self, messages: Messages, variables: dict[str, str], parameters: dict) -> str:
        import torch

        if self.tokenizer.chat_template:
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "
        encoded = self.tokenizer(prompt, return_tensors="pt")
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                do_sample=True,
                temperature=parameters.get("temperature", 0.7),
                max_new_tokens=parameters.get("max_tokens", 200),
                pad_token_id=pad_id,
            )
        return self.tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)


class LocalBackend:
    """The project's local copy model, in-process."""

    name = "local"

    def __init__(self, model_dir: Path):
        from loyaltylens.generation.local_model import LocalCopyModel

        self.model = LocalCopyModel(model_dir)

    def complete(self, messages: Messages, variables: dict[str, str], parameters: dict) -> str:
        return self.complete_batch([variables], parameters)[0]

    def complete_batch(self, variables: list[dict[str, str]], parameters: dict, seed: int | None = None) -> list[str]:
        """One answer per entry of ``variables``, in one forward pass (the model reads variables, not messages);
        ``seed``: reproducible sampling."""
        temperature = parameters.get("temperature", 0.7)
        return [c.text for c in self.model.generate(variables, temperature=temperature, seed=seed)]


def backend_from_settings(settings: Settings | None = None) -> CopyBackend:
    """The backend ``settings.generator_backend`` names, configured from the same settings."""
    settings = settings or get_settings()
    if settings.generator_backend == "openai":
        return OpenAIBackend(
            settings.openai_base_url, settings.openai_model, settings.openai_timeout_s, settings.openai_retries
        )
    if settings.generator_backend == "hf":
        if settings.hf_model_path is None:
            raise InvalidInputError("generator backend 'hf' needs LOYALTYLENS_HF_MODEL_PATH")
        return HFBackend(settings.hf_model_path)
    from loyaltylens.generation.model_store import resolve_generator_dir

    return LocalBackend(resolve_generator_dir(settings.generator_model_uri, settings))
