VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test test-fast lint docs install clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/seq2seq demo --out runs/demo

test: install
	$(VENV)/bin/python -m pytest -q

test-fast: install
	$(VENV)/bin/python -m pytest -q -m "not slow"

# ruff (pyproject.toml [tool.ruff]): pyflakes, pycodestyle, import order, pyupgrade, bugbear. `ruff format` is not
# run: its layout differs from the code's (aligned continuation lines) in most files.
LINTED := src tests benchmarks tools

lint: install
	$(VENV)/bin/ruff check $(LINTED)

# The site goes to build/site (gitignored); --strict turns every broken link or warning into an error.
docs: install
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) runs build src/*.egg-info
