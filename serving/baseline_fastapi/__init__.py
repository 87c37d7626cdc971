"""Benchmark baseline: the TorchScript model behind a plain FastAPI app.

``python -m serving.baseline_fastapi --model_dir DIR --port P``
"""
