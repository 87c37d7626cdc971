"""Offer retrieval: MiniLM embeddings of the offer catalog and nearest-offer search for a customer.

One interface, ``OfferRetriever`` (``base``), with backends chosen by settings or per request through
``build_retriever`` (``factory``): pgvector on Postgres (default; embedded pgserver locally), LlamaIndex
over the same table, Weaviate, and exact numpy search, the baseline every recall figure is measured
against. Dense, BM25 (Postgres full text) and hybrid (reciprocal rank fusion) modes; queries built from a
customer's features and purchase history (``query``). ``evaluate`` is the only module that reads the
simulator's hidden truth.
"""
