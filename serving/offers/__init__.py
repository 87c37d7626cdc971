"""The offer API (``python -m serving.offers``): ``POST /v1/offers`` over the decision chain; the app is ``app.py``."""
