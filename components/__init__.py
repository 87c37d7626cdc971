"""KFP components: each one a small typed function over ``loyaltylens`` library code.

Imports live inside the function bodies because KFP ships only the function's source into the container;
the container is the project image (``TRAIN_IMAGE``, built from components/Dockerfile), which has the
library installed, so ``install_kfp_package=False`` and nothing is pip-installed at run time.
"""

TRAIN_IMAGE = "ghcr.io/loyaltylens/loyaltylens-train:0.1.0"
