#!/bin/sh
# PyPI's torchvision is built against CUDA torch: beside the CPU-only torch its C ops cannot load, and
# `import torchvision` then raises (operator torchvision::nms does not exist). Only open_clip (via timm)
# needs it, for the optional brand scoring of loyaltylens.generation.brand (off unless
# LOYALTYLENS_CLIP_WEIGHTS_PATH is set), which neither the servers nor the pipeline run. So the images leave
# all three out rather than ship an import that crashes; an image that must score brands uses CUDA torch.
set -eu
if ! python -c "import torchvision" >/dev/null 2>&1; then
    pip uninstall --yes open-clip-torch timm torchvision
fi
