# Both targets create (or reuse) .venv in the project root with the pinned dependencies:
# `make demo` the runtime ones (requirements.lock), `make test` also the test tools and the
# optional extras (requirements-dev.lock).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test clean-venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(VENV)/bin/pip install --quiet -r requirements-dev.lock
	touch $(DEV_STAMP)

demo: $(STAMP)
	$(VENV)/bin/ptune demo

test: $(DEV_STAMP)
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

clean-venv:
	rm -rf $(VENV)
