"""Propensity model: TabTransformer, training, evaluation, MLflow registry, exports."""
