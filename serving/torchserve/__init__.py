"""TorchServe entry points: the custom handler packed into the propensity model archive (.mar)."""
