"""KServe predictor for the propensity model (``python -m serving.propensity``)."""
