# digit-recognizer: `make report` trains and renders the MNIST report, `make test` runs the suite.
# Both create .venv with the pinned dependencies first if it is missing or pyproject.toml or the
# constraints changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Every installed package is pinned by constraints/py<X.Y>.txt for the interpreter's version X.Y
# (make constraints writes them from pyproject.toml).
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
CONSTRAINTS    := constraints/py$(PYTHON_VERSION).txt
# The versions that get a constraints file (the supported one, and 3.12, coming).
CONSTRAINT_PYTHONS := 3.11 3.12

# Extra arguments: make report ARGS="-p epochs 3 -p model seed"; make test PYTEST_ARGS="-k data"
ARGS        ?=
PYTEST_ARGS ?=

.PHONY: help report test test-quick lint constraints browser lab clean-venv

help:
	@echo "make report      train and evaluate on MNIST, write reports/<run-id>/report.html (ARGS='-p NAME VALUE ...')"
	@echo "make test        lint, then the whole test suite (PYTEST_ARGS='...')"
	@echo "make test-quick  the tests without the end-to-end ones (under a minute), for the edit loop"
	@echo "make lint        ruff over digitlib/, tests/ and bench/"
	@echo "make lab         open JupyterLab on notebooks/"
	@echo "make bench       time to accuracy, inference speed, end-to-end timing (bench/results/)"
	@echo "make bench-accuracy  train every model of the ladder (3 seeds; hours on a CPU), write the accuracy table"
	@echo "make constraints rewrite constraints/ from pyproject.toml (UPGRADE=1: newest versions that fit)"

$(STAMP): pyproject.toml $(wildcard $(CONSTRAINTS))
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "digit-recognizer needs Python 3.11; run make PYTHON=/path/to/python3.11"; exit 1; }
	@test -f $(CONSTRAINTS) || { echo "$(CONSTRAINTS) is missing; run make constraints"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[tensorflow,jax,dask,lab,dev]'
	@touch $(STAMP)

report: $(STAMP)
	$(BIN)/digitlib report $(ARGS)

test: $(STAMP) lint browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The edit loop: everything but the tests marked e2e (notebooks executed, real training); under a minute.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check digitlib tests bench

# Rewrites constraints/py<X.Y>.txt in throwaway venvs (pip-compile); see scripts/compile-constraints.
constraints:
	scripts/compile-constraints $(if $(UPGRADE),--upgrade) $(CONSTRAINT_PYTHONS)

# The browser tests drive Debian's Chromium: installed with apt where we may (root), else they skip.
browser:
	@scripts/install-chromium

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)

# Benchmarks (see bench/): results land in bench/results/ as markdown and JSON.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python bench/time_to_accuracy.py
	$(BIN)/python bench/inference.py
	$(BIN)/python bench/end_to_end.py --runs 3

# The README's accuracy table: runs sweeps/accuracy.yaml into reports/ (finished runs are reused), then
# writes bench/results/accuracy.md and .json. Three strong seeds take about 1.5 hours on 2 CPU cores.
.PHONY: bench-accuracy
bench-accuracy: $(STAMP)
	$(BIN)/python bench/accuracy.py --jobs $(JOBS)

# The sample images of notebooks/predict_your_digits.ipynb, made from MNIST test digits and pen strokes.
.PHONY: samples
samples: $(STAMP)
	$(BIN)/python -c "import digitlib, digitlib.photos as p; d = digitlib.load_mnist(); p.write_samples('notebooks/samples', d.x_test, d.y_test)"

# A batch of reports from a sweep file: make sweep SWEEP=sweeps/ladder.yaml JOBS=1
SWEEP ?= sweeps/ladder.yaml
JOBS  ?= 1
.PHONY: sweep
sweep: $(STAMP)
	$(BIN)/digitlib sweep $(SWEEP) --jobs $(JOBS)
