# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3

.PHONY: demo test lint format bench system venv clean

demo: $(STAMP)
	$(VENV)/bin/vmm --demo

test: $(STAMP) lint
	tools/start-libvirtd.sh
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check vmm tests tools
	$(VENV)/bin/ruff format --check vmm tests tools

format: $(STAMP)
	$(VENV)/bin/ruff format vmm tests tools
	$(VENV)/bin/ruff check --fix vmm tests tools

system:
	tools/setup-system.sh

$(STAMP): pyproject.toml tools/setup-system.sh
	tools/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
