# One command each: `make run` (the whole pipeline on the bundled sample), `make test` (what CI runs).
PYTHON ?= python3.11
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: setup run test compile

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements.lock -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/movinet-pipeline run $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest $(ARGS)

# Every committed pipeline file: training and sweep, for Kubeflow (pipeline.yaml, ...) and Vertex (...-vertex.yaml).
compile: setup
	for pipeline in training sweep; do for target in kubeflow vertex; do \
		$(VENV)/bin/movinet-pipeline compile --pipeline $$pipeline --target $$target || exit 1; done; done
