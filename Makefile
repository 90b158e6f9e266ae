# Two commands do everything on a fresh machine:
#   make lab    install what the lessons need into .venv and open them in JupyterLab
#   make test   install what the tests need into .venv and run them (unit tests + every notebook under nbval)
# CLKIT_SCALE picks the size of every notebook: ci (smallest), laptop (CPU default), full (GPU default).
# Two more for the classroom (docs/classroom.md):
#   make app            the augmentation and temperature explorers as a web page without code (Voila)
#   make test-browser   the widgets, the hover thumbnails, the app and the lab's first page, in headless Chromium

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# JupyterLab refuses to run as root unless told; containers often run as root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
# The kit's JupyterLab settings (binder/jupyter, which Binder uses too): autosave off, so running a lesson leaves
# the committed notebook as it was until the reader saves; no news prompt; Markdown opened as a page. A reader's
# own settings still win over them.
LAB_SETTINGS := JUPYTER_CONFIG_PATH="$(CURDIR)/binder/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}"

.PHONY: lab app test test-browser bench notebooks clean

# Opens at the README, rendered, whose table links every lesson; the file browser shows the README and notebooks/.
lab: $(VENV)/.installed-lab
	$(LAB_SETTINGS) $(BIN)/jupyter lab $(LAB_ARGS) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/README.md

# Voila runs apps/explorers.py as one cell and shows what it displays, never its code: http://localhost:8866
app: $(VENV)/.installed-lab
	$(LAB_SETTINGS) $(BIN)/voila apps/explorers.py --VoilaConfiguration.extension_language_mapping='{".py": "python"}'

test: $(VENV)/.installed-test
	CLKIT_SCALE=$${CLKIT_SCALE:-ci} $(BIN)/python -m pytest

# Needs Debian's chromium (apt-get install chromium); Playwright drives it, with no browser download of its own.
# The tests start their own JupyterLab and Voila servers on 127.0.0.1, on copies of the notebooks, and keep a
# screenshot of every app under runs/browser/ (CLKIT_BROWSER_ARTIFACTS moves them).
test-browser: $(VENV)/.installed-test
	CLKIT_SCALE=ci $(BIN)/python -m pytest -m browser tests/test_browser.py tests/test_widgets_a11y.py

# Re-run every notebook in place at the current scale (laptop by default) so the committed outputs are real.
notebooks: $(VENV)/.installed-test
	$(BIN)/python bench/run_notebooks.py
	$(BIN)/python bench/stamp_notebooks.py

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
