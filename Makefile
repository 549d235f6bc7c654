# One command each, on a fresh machine: `make demo` runs the demo, `make test` runs the checks.
# Both create .venv, install torch==2.13.0 first (the CPU build on this disk), then the package.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast demo lint typecheck pytest bench clean browser real real-oracles

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's chromium + chromedriver for the browser tests of the HTML report (installed when missing and root)
browser:
	bash scripts/ensure-browser.sh

# two pytest-xdist workers, torch at one thread each (tests/conftest.py); PYTEST_WORKERS=0 runs in one process
PYTEST_WORKERS ?= 2
pytest: $(STAMP) browser
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

# the unit layer alone (no subprocess runs, long trainings or browser): about a minute and a half
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow and not integration and not browser"

demo: $(STAMP)
	$(BIN)/gradmedic demo

# Overhead (gradmedic and the peers, each peer in its own venv under benchmarks/.venvs) and detection quality.
bench: $(STAMP)
	bash benchmarks/setup_peers.sh
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/overhead.py --threads 1 --rounds 16 --repeats 3
	$(BIN)/python benchmarks/detection.py

clean:
	rm -rf $(VENV) runs benchmarks/.venvs

# Real, unmodified public training scripts under gradmedic run (tests/real/suite.py lists them)
real: $(STAMP)
	GRADMEDIC_REAL=1 OMP_NUM_THREADS=1 $(BIN)/pytest -q -m integration tests/real/test_real.py

# Re-run the independent oracle (no gradmedic) for every case: tests/real/oracles/results/<case>.json
real-oracles: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.real.oracles.run_all
