"""Feedback on generated offers: the ratings service and store, rolling copy quality, preference exports,
a simulated audience, and the retraining triggers read from them."""
