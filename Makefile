# Every target sets up .venv itself from nothing (python3 -m venv + pip), so a fresh clone needs
# only `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/spiral_clip.yaml

FIGURES := runs/figures

.PHONY: setup demo test bench figures figures-runs figures-gradcheck figures-graph figures-sweep clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bp train $(CONFIG) --runs-dir runs

test: $(STAMP)
	$(BIN)/python -m pytest -q

# `make figures`: every figure and the results table, from scratch, into runs/figures/.
# One sub-target per part so that each stays small.
figures: figures-runs figures-gradcheck figures-graph figures-sweep
	@echo "figures in $(FIGURES)/"

clean:
	rm -rf $(VENV) runs .pytest_cache
