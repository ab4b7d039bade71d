# cgfsim: `make demo` and `make test` set up .venv on first use, then do their job.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-dev
BSTAMP  := $(VENV)/.installed-bench
ESTAMP  := $(VENV)/.installed-ecosystem
PIP     := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
export SB3_LOGDIR ?= $(CURDIR)/runs/.sb3
export MPLBACKEND ?= Agg

.PHONY: demo test test-fast lint bench setup clean check-constraints

setup: $(STAMP)

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip

# Reinstall only when the dependency declarations change. The distributed extra (Ray) is part
# of the dev setup because the lab's tests run a sweep on a local Ray.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev,distributed]'
	@touch $@

# The third-party RL tools tests/ecosystem runs (RL Zoo, SuperSuit, Minari + jax, Shimmy).
$(ESTAMP): $(STAMP)
	$(PIP) -e '.[dev,distributed,ecosystem]'
	@touch $@

$(BSTAMP): $(STAMP)
	$(PIP) -e '.[dev,distributed,bench]' || echo "bench extra unavailable: peers will be reported as null"
	@touch $@

# The headline experiment's quick preset: every approach, 3 seeds, Duel against `retreat`
# (runs/data_volume/<timestamp>/); prints the summary table and the report's path.
demo: $(STAMP)
	$(BIN)/python experiments/data_volume.py --preset quick --executor process

test: $(ESTAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test-fast: $(ESTAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check cgfsim tests benchmarks experiments
	$(BIN)/ruff format --check cgfsim tests benchmarks experiments
	$(BIN)/mypy cgfsim

bench: $(BSTAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# constraints.txt must resolve, from scratch, together with what users add to cgfsim.
check-constraints: | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q --dry-run --ignore-installed \
		-c constraints.txt -e '.[dev,distributed,ecosystem]' rl_zoo3 supersuit 'minari[hdf5,create]' shimmy
	@echo "constraints.txt resolves with cgfsim[dev,ecosystem], rl_zoo3, supersuit, minari, shimmy"

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .mypy_cache .ruff_cache
