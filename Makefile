# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
PYTHON  ?= python3

BENCH_VENV := .venv-bench

.PHONY: demo test lint format man bench system venv clean guest-image

# the demo needs only vmm itself: a venv with libvirt-python built (and none of the test tiers)
demo: $(DEMO_STAMP)
	$(VENV)/bin/vmm --demo

$(DEMO_STAMP): pyproject.toml tools/setup-system.sh
	tools/setup-system.sh --demo
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(DEMO_STAMP)

test: $(STAMP) lint guest-image
	tools/start-libvirtd.sh
	$(PY) -m pytest

# the Debian guest the real-guest tier (tests/guest) boots; cached, so only the first run builds it
guest-image: $(STAMP)
	tools/build-guest.sh >/dev/null

# the manual pages (vmm/data/man), written from the commands; a test checks they are current
man: $(STAMP)
	$(PY) tools/make-man.py

lint: $(STAMP)
	$(VENV)/bin/ruff check vmm tests tools bench
	$(VENV)/bin/ruff format --check vmm tests tools bench

format: $(STAMP)
	$(VENV)/bin/ruff format vmm tests tools bench
	$(VENV)/bin/ruff check --fix vmm tests tools bench

# vmm installed as a user installs it (not editable), plus matplotlib for the plots
bench: $(STAMP)
	tools/setup-system.sh virtinst
	tools/start-libvirtd.sh
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q '.[bench]'
	$(BENCH_VENV)/bin/python -m bench

system:
	tools/setup-system.sh

$(STAMP): pyproject.toml tools/setup-system.sh
	tools/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP) $(DEMO_STAMP)

venv: $(STAMP)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
