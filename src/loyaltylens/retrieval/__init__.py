"""Offer retrieval: MiniLM embeddings of the offer catalog and nearest-offer search for a customer.

The walking skeleton uses exact cosine search over in-memory embeddings; pgvector, LlamaIndex, Weaviate
and hybrid BM25+vector backends slot in behind the same ``search`` signature.
"""
