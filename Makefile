# contrastlab: every target creates (or reuses) the virtual environment in $(VENV).
# The CPU build of torch is installed unless torch is already importable in the venv
# (on a GPU machine: install the CUDA build into .venv first, see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
RUN_DIR ?= runs/digits-supcon

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,export,parquet]"
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/contrastlab pretrain --config configs/digits_supcon.yaml --out $(RUN_DIR) --overwrite --linear

test: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q tests

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: install
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/losses.py

clean:
	rm -rf $(VENV) runs .pytest_cache
