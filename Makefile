# One command each: `make run` (the whole pipeline on the bundled sample), `make test` (what CI runs),
# `make test-fast` (no whole-pipeline run, no model training: the edit-test loop).
PYTHON ?= python3.11
VENV ?= .venv
STAMP := $(VENV)/.installed
# Both cores; the tests of each whole-pipeline run share one worker, so each run is built once (tests/conftest.py).
PYTEST := $(VENV)/bin/python -m pytest -n 2

.PHONY: setup run lint test test-fast compile images

$(STAMP): pyproject.toml setup.py requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements.lock -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/movinet-pipeline run $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PYTEST) --durations=15 $(ARGS)

test-fast: lint
	$(PYTEST) -m "not e2e and not slow and not docker" $(ARGS)

# Every committed pipeline file: training and sweep, for Kubeflow (pipeline.yaml, ...) and Vertex (...-vertex.yaml).
compile: setup
	for pipeline in training sweep; do for target in kubeflow vertex; do \
		$(VENV)/bin/movinet-pipeline compile --pipeline $$pipeline --target $$target || exit 1; done; done

# The images, from the working tree (images/build.py): IMAGES="pipeline trainer-cpu" builds only those (CI: no GPU
# trainer), IMAGE_ARGS=--push pushes them; the Docker daemon must run (images/start-docker.sh starts one).
images: setup
	$(VENV)/bin/python images/build.py $(IMAGES) $(IMAGE_ARGS)
