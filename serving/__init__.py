"""Serving entry points over the library (``loyaltylens.runtime`` and the stage packages).

``propensity``: KServe predictor; ``feature_transformer``: KServe transformer in front of it;
``baseline_fastapi``: plain FastAPI app, the benchmark's floor; ``torchserve``: TorchServe handler.
"""
