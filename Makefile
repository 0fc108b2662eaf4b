# Two commands on a fresh machine with Python 3.11+ and make:
#   make run   - simulate the Met baseline on the built-in London data (outputs in results/)
#   make test  - run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench data calibrate docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,lint]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dronesim run scenarios/met_baseline.toml --out results/met_baseline

test: $(STAMP)
	$(BIN)/python -m pytest tests -q

# The chosen ruff rules and mypy (configured in pyproject.toml), with zero findings.
lint: $(STAMP)
	$(BIN)/ruff check dronesim tests scripts benchmarks
	$(BIN)/mypy

# Speed and memory against reference models and issue 8's targets (a few minutes; not a test).
# Pass options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--quick --only engine".
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# Rebuild data/ from the raw sources (needs ../shared/data; not needed to run or test).
data: $(STAMP)
	$(BIN)/python scripts/build_data.py ../shared/data --out data

# Regenerate docs/scenario-keys.md from the schema (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -c "from dronesim.cli.catalogue import scenario_keys_markdown as s; open('docs/scenario-keys.md', 'w', encoding='utf-8').write(s())"

calibrate: $(STAMP)
	$(BIN)/python scripts/calibrate.py scenarios/met_baseline.toml
	$(BIN)/python scripts/calibrate.py scenarios/met_baseline_weather_free.toml
	$(BIN)/python scripts/calibrate_services.py
	$(BIN)/python scripts/fit_ground_travel.py --validate

# Removes the virtual environment and caches only: results/ may hold files of yours, so it
# is left alone (delete what you no longer want yourself).
clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
