"""SageMaker PyTorch serving-container handler (``inference.py``), shipped as ``code/`` in ``model.tar.gz``."""
