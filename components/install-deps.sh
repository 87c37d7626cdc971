#!/bin/sh
# Install the third-party dependencies of loyaltylens[EXTRAS] from pyproject.toml alone: an empty stand-in
# package takes the project's place, so this image layer is rebuilt only when pyproject.toml changes.
set -eu
stub=$(mktemp -d)
cp /tmp/pyproject.toml "$stub"
# pyproject names README.md as the readme; an empty one stands in (the real one is not copied, see the Dockerfile)
touch "$stub/README.md"
for pkg in src/loyaltylens serving components pipelines; do mkdir -p "$stub/$pkg" && touch "$stub/$pkg/__init__.py"; done
# pyproject force-includes prompts/ into the wheel; an empty one satisfies the stand-in's build.
mkdir -p "$stub/prompts"
build-pip install "$stub[$1]"
pip uninstall --yes loyaltylens
rm -rf "$stub" /tmp/pyproject.toml
