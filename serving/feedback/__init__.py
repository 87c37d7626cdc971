"""The feedback service's process entry point (``python -m serving.feedback``); the app is loyaltylens.feedback.api."""
