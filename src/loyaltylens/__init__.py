"""LoyaltyLens: decide, for each loyalty-programme customer, whether and which offer to send, and write the copy.

Stages (one subpackage each): ``data`` (synthetic events + hidden truth), ``features`` (point-in-time
features, versioned DuckDB store), ``propensity`` (TabTransformer, MLflow registry, exports),
``retrieval`` (offer search), ``generation`` (offer copy), and ``orchestration`` (run_for_customer).
"""

__version__ = "0.1.0"
