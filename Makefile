# Quickstart targets: `make demo` and `make test` create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
# CPU build of torch; on a GPU machine use e.g. `make TORCH_SPEC=torch test` (see README)
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.mnpad-installed

.PHONY: demo test lint bench-mnp clean

demo: $(STAMP)
	$(VENV)/bin/mnpad demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench-mnp: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_mnp.py

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" || \
	  $(VENV)/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
	$(VENV)/bin/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) demo_out .pytest_cache
