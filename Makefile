PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test check-paper lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/asyncsim run scenarios/quickstart.yaml --out results/quickstart

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# The paper's Fig. 1 ordering on the reduced Humanoid scenarios (3 seeds each; ~10 min on 2 cores)
check-paper: $(STAMP)
	$(BIN)/python -m analysis.paper_ordering --run --results results/check-paper --set oracle.workers=1

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache
