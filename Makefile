# digit-recognizer: `make report` trains and renders the MNIST report, `make test` runs the suite.
# Both create .venv with the pinned dependencies first if it is missing, and install the extras they need
# into it again when pyproject.toml or the constraints changed.

PYTHON ?= $(shell scripts/find-python 3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

# Every installed package is pinned by constraints/py<X.Y>.txt for the interpreter's version X.Y
# (make constraints writes them from pyproject.toml).
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
CONSTRAINTS    := constraints/py$(PYTHON_VERSION).txt
# The versions digitlib supports, each with its constraints file. The test suite runs on .venv's (3.11
# unless PYTHON says otherwise); make test adds a smoke test on 3.12 (scripts/smoke-python).
CONSTRAINT_PYTHONS := 3.11 3.12

# The Keras backend make report (and lab, sweep, bench, samples) trains with: make report BACKEND=jax
# installs the jax extra instead of TensorFlow. Default: $KERAS_BACKEND, else TensorFlow.
BACKEND ?= $(or $(KERAS_BACKEND),tensorflow)
ifeq ($(filter $(BACKEND),tensorflow jax),)
$(error BACKEND=$(BACKEND) is not a Keras backend digitlib knows; use BACKEND=tensorflow or BACKEND=jax)
endif

# Which extras of pyproject.toml each target installs. Each set gets its own stamp in .venv, written once
# that set is installed, so one .venv serves them all: make test installs the superset, and a later
# make report only checks that its own set is there (a pip no-op, once).
TEST_EXTRAS   := tensorflow,jax,dask,lab,dev,mlflow
BENCH_EXTRAS  := tensorflow,jax,dask
REPORT_EXTRAS := $(BACKEND)
LAB_EXTRAS    := $(BACKEND),lab
comma := ,
stamp  = $(VENV)/.installed-$(subst $(comma),+,$(1))
TEST_STAMP   := $(call stamp,$(TEST_EXTRAS))
BENCH_STAMP  := $(call stamp,$(BENCH_EXTRAS))
REPORT_STAMP := $(call stamp,$(REPORT_EXTRAS))
LAB_STAMP    := $(call stamp,$(LAB_EXTRAS))

# Extra arguments: make report ARGS="-p epochs 3 -p model seed"; make test PYTEST_ARGS="-k data";
# make lab LAB_ARGS="--ip=0.0.0.0 --port=8890 --no-browser" (any option of jupyter lab)
ARGS        ?=
PYTEST_ARGS ?=
LAB_ARGS    ?=

# Python 3.12 for the smoke test, if it is not python3.12 on the PATH or pyenv's (scripts/find-python).
export PYTHON_3_12

.PHONY: help report test test-quick test-full lint constraints browser lab git-filters clean-venv smoke-3.12 wheelhouse

help:
	@echo "make report      train and evaluate on MNIST, write reports/<run-id>/report.html (ARGS='-p NAME VALUE ...')"
	@echo "                 BACKEND=jax: train with JAX (installs the jax extra, not TensorFlow)"
	@echo "make test        what CI runs: lint, the Python 3.12 smoke, every test not marked full on TensorFlow, then"
	@echo "                 those marked jax on JAX; every real part at least once (docs/development.md has the times)"
	@echo "make test-full   the rest: the tests marked full (the model x backend matrix, slower variants), both backends"
	@echo "make test-quick  the tests not marked e2e or full, for the edit loop (60 s or less)"
	@echo "                 one file or marker: make test PYTEST_ARGS='tests/test_data.py' or PYTEST_ARGS='-m jax'"
	@echo "make smoke-3.12  install the wheel with JAX only into .venv-3.12, train a tiny report, predict"
	@echo "make lint        ruff over digitlib/, tests/ and bench/; import-linter's contracts over digitlib's folders"
	@echo "make lab         open JupyterLab on notebooks/ (LAB_ARGS='--port=8890 --no-browser ...')"
	@echo "make git-filters let git strip notebook outputs before a commit (nbstripout; make lab and make test do it)"
	@echo "make bench       time to accuracy, inference speed, end-to-end timing, the report's t-SNE, TensorFlow vs JAX,"
	@echo "                 local vs Dask sweeps (bench/results/)"
	@echo "make bench-accuracy  train seed, keras-example, fast, strong (3 seeds) and an ensemble of 5 (about 50 min on 2 cores), write the accuracy table"
	@echo "make bench-realism   read the project's own handwriting set with trained models, next to their MNIST"
	@echo "                 accuracy (REALISM_MODELS='reports/latest strong=reports/RUN'; bench/results/realism.md)"
	@echo "make constraints rewrite constraints/ from pyproject.toml (UPGRADE=1: newest versions that fit)"
	@echo "make wheelhouse  download every wheel for an offline install (PYTHON_VERSION=3.12 EXTRAS=jax"
	@echo "                 PLATFORM=manylinux_2_28_x86_64 EXCLUDE=jax,jaxlib DEST=wheelhouse)"

# .venv/.installed-A+B installs extras A and B (pip leaves what is already there alone).
$(VENV)/.installed-%: pyproject.toml $(wildcard $(CONSTRAINTS))
	@case " $(CONSTRAINT_PYTHONS) " in *" $(PYTHON_VERSION) "*) ;; *) \
	  echo "digit-recognizer needs Python 3.11 or 3.12, not '$(PYTHON)' ($(or $(PYTHON_VERSION),not found));" \
	    "run make PYTHON=/path/to/python3.11"; exit 1;; esac
	@test -f $(CONSTRAINTS) || { echo "$(CONSTRAINTS) is missing; run make constraints"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(PYTHON_VERSION)")' || \
	  { echo "$(VENV) has another Python than $(PYTHON) ($(PYTHON_VERSION)); run make clean-venv, then make again"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[$(subst +,$(comma),$*)]'
	@touch $@

report: $(REPORT_STAMP)
	$(BIN)/digitlib report --backend $(BACKEND) $(ARGS)

# The test tiers (docs/development.md). Each pass prints its 30 slowest tests and fixtures, and a test that runs
# past the tier's limit fails with its stack (pytest-timeout) instead of holding up the rest. Skips are listed
# with their reason (-ra); in CI (CI=true) a missing part (MNIST, Chromium, an extra, chattr, Python 3.12)
# fails instead of skipping. pytest's exit 5 means PYTEST_ARGS selected no test of a pass: fine when you chose
# them, a failure in CI.
# pytest-xdist: WORKERS processes (2: this machine's cores); each test module stays on one worker, and the runs
# several modules share are made once (once_per_run in tests/conftest.py). WORKERS=0: pytest's own process.
WORKERS      ?= 2
PYTEST       = $(BIN)/python -m pytest --durations=30 $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)
NONE_CHOSEN  = || { status=$$?; [ $$status -eq 5 ] && [ -z "$(PYTEST_ARGS)" -a "$${CI:-}" = true ] && \
                 echo "make: the $(1) pass selected no test" >&2 && exit 1; [ $$status -eq 5 ] || exit $$status; }
TEST_LIMIT   := 300
FULL_LIMIT   := 900
QUICK_LIMIT  := 60

# make test (CI): .venv's install (then lint) and the Python 3.12 smoke (its own .venv-3.12) side by side, each
# printed when done; then every test not marked full on TensorFlow, then those marked jax again on JAX.
test:
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint browser smoke-3.12
	@$(GIT_FILTERS)
	KERAS_BACKEND=tensorflow $(PYTEST) --timeout=$(TEST_LIMIT) -m "not full" $(PYTEST_ARGS) $(call NONE_CHOSEN,TensorFlow)
	KERAS_BACKEND=jax $(PYTEST) --timeout=$(TEST_LIMIT) -m "jax and not full" -p no:cacheprovider $(PYTEST_ARGS) \
	  $(call NONE_CHOSEN,JAX)

# make test-full: the tests marked full, which make test leaves out, on TensorFlow and (those also marked jax) JAX.
test-full: $(TEST_STAMP) browser
	KERAS_BACKEND=tensorflow $(PYTEST) --timeout=$(FULL_LIMIT) -m full $(PYTEST_ARGS) $(call NONE_CHOSEN,TensorFlow)
	KERAS_BACKEND=jax $(PYTEST) --timeout=$(FULL_LIMIT) -m "jax and full" -p no:cacheprovider $(PYTEST_ARGS) \
	  $(call NONE_CHOSEN,JAX)

# Installs the wheel with the jax extra alone into .venv-3.12 and runs a tiny report and a prediction from
# another folder (scripts/smoke-python); without a Python 3.12 it is skipped with a note, or fails in CI.
smoke-3.12:
	scripts/smoke-python 3.12

# The edit loop: the tests not marked e2e or full (no notebook executed, no real training, no TensorFlow child
# process); 60 s or less on 2 cores.
test-quick: $(TEST_STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) --timeout=$(QUICK_LIMIT) -m "not e2e and not full" $(PYTEST_ARGS) \
	  $(call NONE_CHOSEN,quick)

lint: $(TEST_STAMP)
	$(BIN)/ruff check digitlib tests bench
	$(BIN)/lint-imports --no-cache

# Rewrites constraints/py<X.Y>.txt in throwaway venvs (pip-compile); see scripts/compile-constraints.
constraints:
	scripts/compile-constraints $(if $(UPGRADE),--upgrade) $(CONSTRAINT_PYTHONS)

# The browser tests drive Debian's Chromium: installed with apt where we may (root), else they skip.
browser:
	@scripts/install-chromium

# nbstripout as git's filter for notebooks (.gitattributes): what a JupyterLab session saves into notebooks/
# stays out of git status and commits. Writes three keys of this clone's .git/config; quick, asks nothing.
GIT_FILTERS = $(BIN)/python scripts/git-filters
git-filters: $(LAB_STAMP)
	@$(GIT_FILTERS)

# JupyterLab refuses to run as root without --allow-root; containers and cloud notebooks run as root.
LAB_AS_ROOT = $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
# scripts/jupyter/jupyter_server_config.py: a pre-save hook saves the notebooks git tracks without outputs (git status stays
# clean). On JUPYTER_CONFIG_PATH, before the user's own entries; ~/.jupyter's settings still come first.
LAB_CONFIG_PATH = $(CURDIR)/scripts/jupyter$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))
lab: $(LAB_STAMP)
	@$(GIT_FILTERS)
	KERAS_BACKEND=$(BACKEND) JUPYTER_CONFIG_PATH='$(LAB_CONFIG_PATH)' $(BIN)/jupyter lab $(LAB_AS_ROOT) $(LAB_ARGS) notebooks/

clean-venv:
	rm -rf $(VENV) $(VENV)-3.12

# Every wheel an offline install of digitlib[EXTRAS] needs, for another Python or platform; EXCLUDE leaves
# out packages the target already has (scripts/wheelhouse). The README's "Installing" shows the install.
EXTRAS   ?= $(BACKEND)
PLATFORM ?= manylinux_2_28_x86_64
EXCLUDE  ?=
DEST     ?= wheelhouse
wheelhouse:
	scripts/wheelhouse --python-version $(PYTHON_VERSION) --platform $(PLATFORM) --extras $(EXTRAS) \
	  --exclude '$(EXCLUDE)' --dest $(DEST)

# Benchmarks (see bench/): results land in bench/results/ as markdown and JSON.
.PHONY: bench
bench: $(BENCH_STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/python bench/time_to_accuracy.py
	KERAS_BACKEND=$(BACKEND) $(BIN)/python bench/inference.py
	KERAS_BACKEND=$(BACKEND) $(BIN)/python bench/end_to_end.py --runs 3
	$(BIN)/python bench/allocator.py --runs 3
	KERAS_BACKEND=$(BACKEND) $(BIN)/python bench/representation.py --repeats 3
	$(BIN)/python bench/backends.py --seeds 3
	$(BIN)/python bench/cluster.py --repeats 2

# On a GPU machine (JAX from the machine, the rest from a wheelhouse): the sprint to 99% with the data on the
# card, the default report, the smoke sweep, two runs sharing the card and strong, written to bench/results/gpu.md.
.PHONY: bench-gpu
bench-gpu: $(REPORT_STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/python bench/gpu.py

# The README's accuracy table: runs sweeps/accuracy.yaml into reports/ (finished runs are reused), then
# writes bench/results/accuracy.md and .json. Five strong seeds take about 40 minutes on 2 CPU cores.
.PHONY: bench-accuracy
bench-accuracy: $(REPORT_STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/python bench/accuracy.py --jobs $(JOBS)

# How trained models read handwriting that is not MNIST's (digitlib/synthetic/realism.py's generated set, read through
# digitlib predict), next to their MNIST test accuracy: bench/results/realism.md. Each model is a run directory
# or its model.keras, optionally NAME=PATH; it needs finished runs, so it is not part of make bench.
REALISM_MODELS ?= reports/latest
.PHONY: bench-realism
bench-realism: $(REPORT_STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/python bench/realism.py $(foreach model,$(REALISM_MODELS),--model $(model))

# The sample images of notebooks/predict_your_digits.ipynb, made from MNIST test digits and pen strokes.
.PHONY: samples
samples: $(REPORT_STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/python -c "import digitlib, digitlib.synthetic.photos as p; d = digitlib.load_mnist(); p.write_samples('notebooks/samples', d.x_test, d.y_test)"

# A batch of reports from a sweep file: make sweep SWEEP=sweeps/ladder.yaml JOBS=1
SWEEP ?= sweeps/ladder.yaml
JOBS  ?= 1
.PHONY: sweep
sweep: $(REPORT_STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/digitlib sweep $(SWEEP) --jobs $(JOBS)
