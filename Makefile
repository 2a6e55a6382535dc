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
	@run=$$($(BIN)/bp train -q $(CONFIG) --runs-dir runs) && echo "trained $(CONFIG) into $$run" && \
	$(BIN)/bp plot $$run | sed 's/^/wrote /'

test: $(STAMP)
	$(BIN)/python -m pytest -q

# `make bench`: bp against PyTorch (the `bench` extra, a pinned CPU build, installed into .venv
# here and never a runtime or test dependency) and against the machine's limits. Prints a table
# and writes runs/bench/results.md; about 4 minutes on 2 cores.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/bench.py --out runs/bench

# `make figures`: every figure and the results table, from scratch, into runs/figures/.
# One sub-target per part so that each stays small.
figures: figures-runs figures-gradcheck figures-graph figures-sweep
	@echo "figures in $(FIGURES)/"

# The clipping sweep (configs/sweeps/clip_thresholds.yaml: 50 spiral runs, 17 s of CPU; measured
# 32 s wall on 2 cores shared with other jobs), its two aggregated figures and its table over seeds,
# into $(FIGURES)/ (the runs: $(FIGURES)/sweeps/, made afresh).
figures-sweep: $(STAMP)
	rm -rf $(FIGURES)/sweeps
	sweep_dir=$$($(BIN)/bp sweep configs/sweeps/clip_thresholds.yaml --runs-dir $(FIGURES)/sweeps --quiet) && \
	$(BIN)/bp plot $$sweep_dir --out $(FIGURES) && \
	$(BIN)/bp report $$sweep_dir --out $(FIGURES)/clip_thresholds_sweep.md

# Every shipped config: train into $(FIGURES)/runs, copy each dashboard and boundary under a
# readable name, draw the clipping and depth comparisons, and write the results table.
figures-runs: $(STAMP)
	rm -rf $(FIGURES)/runs
	@set -e; for config in configs/*.yaml; do \
	  stem=$$(basename $$config .yaml); \
	  case $$stem in \
	    xor) name=xor_no_clip;; xor_clip) name=xor_clip_1.0;; spiral) name=spiral_no_clip;; \
	    spiral_clip) name=spiral_clip_1.0;; deep) name=deep_network;; *) name=$$stem;; \
	  esac; \
	  run=$$($(BIN)/bp train -q --runs-dir $(FIGURES)/runs $$config); \
	  $(BIN)/bp plot $$run > /dev/null; \
	  cp $$run/dashboard.png $(FIGURES)/$${name}_gradient_flow.png; \
	  cp $$run/boundary.png $(FIGURES)/$${name}_boundary.png; \
	  echo "$$config -> $(FIGURES)/$${name}_gradient_flow.png, $(FIGURES)/$${name}_boundary.png"; \
	done
	$(BIN)/bp plot $(FIGURES)/runs/*-spiral $(FIGURES)/runs/*-spiral_clip --out $(FIGURES)/spiral_clipping_comparison.png
	$(BIN)/bp plot $(FIGURES)/runs/*-xor $(FIGURES)/runs/*-xor_clip --out $(FIGURES)/xor_clipping_comparison.png
	$(BIN)/bp plot $(FIGURES)/runs/*-deep $(FIGURES)/runs/*-deep_relu --out $(FIGURES)/deep_sigmoid_vs_relu_comparison.png
	COLUMNS=120 $(BIN)/bp report $(FIGURES)/runs/*/ --out $(FIGURES)/results.md

# The ε sweep of the built-in spiral network (every component, ε from 1e-1 to 1e-12): its .npz and
# epsilon_sensitivity.png into $(FIGURES)/ (a few seconds).
figures-gradcheck: $(STAMP)
	$(BIN)/bp gradcheck --eps-sweep --out-dir $(FIGURES)

# The computational graph of configs/xor.yaml, plain and annotated with one sample's forward
# values and gradients at bp train's initial weights (about a second each).
figures-graph: $(STAMP)
	$(BIN)/bp graph configs/xor.yaml --out $(FIGURES)/computational_graph.png
	$(BIN)/bp graph configs/xor.yaml --input 0.5,-1 --target 1 --out $(FIGURES)/computational_graph_annotated.png

clean:
	rm -rf $(VENV) runs .pytest_cache
