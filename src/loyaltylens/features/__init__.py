"""Point-in-time customer features and the versioned DuckDB feature store."""
