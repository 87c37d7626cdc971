"""Server runtime shared by every model server: request codecs and validation, micro-batching, where a model
comes from, and the one mapping of domain errors to KServe errors."""
