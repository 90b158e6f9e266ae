# Two commands do everything on a fresh machine:
#   make lab    install what the lessons need into .venv and open them in JupyterLab
#   make test   install what the tests need into .venv and run them (unit tests + every notebook under nbval)
# CLKIT_SCALE picks the size of every notebook: ci (smallest), laptop (CPU default), full (GPU default).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# JupyterLab refuses to run as root unless told; containers often run as root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test bench notebooks clean

lab: $(VENV)/.installed-lab
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks/

test: $(VENV)/.installed-test
	CLKIT_SCALE=$${CLKIT_SCALE:-ci} $(BIN)/python -m pytest

# Re-run every notebook in place at the current scale (laptop by default) so the committed outputs are real.
notebooks: $(VENV)/.installed-test
	$(BIN)/python bench/run_notebooks.py

bench: $(VENV)/.installed-test
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python "$$b" || exit 1; done

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-lab: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --editable ".[lab]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --editable ".[test]"
	touch $@ $(VENV)/.installed-lab

clean:
	rm -rf $(VENV) .pytest_cache runs
