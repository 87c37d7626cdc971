#!/usr/bin/env bash
# The digest of every file an image is built from (its build context as git tracks it, working-tree contents):
# `make images` labels both images with it, and the container tests refuse images whose label differs, so they
# never run against images left by an earlier build of other code.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z -- components src serving pipelines prompts pyproject.toml README.md \
    | xargs -0 sha256sum | sha256sum | cut -c1-16
