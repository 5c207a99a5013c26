PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test check-paper notebooks lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The quickstart: 3 methods x 2 communication regimes x 3 seeds, its table and its figures
run: $(STAMP)
	$(BIN)/asyncsim sweep scenarios/quickstart.yaml --out results/quickstart -q
	$(BIN)/asyncsim report results/quickstart
	$(BIN)/asyncsim plot results/quickstart > /dev/null
	@echo "figures: results/quickstart/plots/"

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# The paper's Fig. 1 ordering on the reduced Humanoid scenarios (5 seeds each)
check-paper: $(STAMP)
	$(BIN)/python -m analysis.paper_ordering --run --results results/check-paper --set oracle.workers=1

# Both notebooks, executed top to bottom in a fresh kernel; their stored copies stay without
# outputs. NOTEBOOK_QUICK=1: the tiny settings the tests use (seconds instead of minutes)
NOTEBOOK_QUICK ?= 0
NOTEBOOKS := --kernel_name=python3 --timeout=-1 notebooks/01_quickstart.ipynb \
	notebooks/02_theory_vs_measurement.ipynb
notebooks: $(STAMP)
	ASYNCSIM_NOTEBOOK_QUICK=$(NOTEBOOK_QUICK) MPLBACKEND=Agg $(BIN)/jupyter execute $(NOTEBOOKS)

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
