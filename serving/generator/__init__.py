"""KServe generator server: the local offer-copy model over KServe v1/v2 and OpenAI-compatible routes."""
