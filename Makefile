# The two commands:  `make demo` (run the service on the demo corpus)  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test bench install constraints clean

# Every package at the exact version in constraints.txt (pip and the setuptools that builds
# papertrend too), so two installs on two machines are the same set of packages.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt --build-constraint constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/papertrend demo

serve: $(STAMP)
	$(BIN)/papertrend serve

# Lint (ruff) and types (mypy on src/) first: a slip they catch costs seconds, not a test run.
test: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy
	./scripts/ensure-chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	mkdir -p var
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Rewrites constraints.txt from a fresh, unconstrained install of the newest versions that
# pyproject.toml allows. Review the diff, run `make test`, commit both.
CONSTRAINTS_VENV := build/constraints-venv
constraints:
	rm -rf $(CONSTRAINTS_VENV)
	$(PYTHON) -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/python -m pip install -q --upgrade pip setuptools
	$(CONSTRAINTS_VENV)/bin/python -m pip install -q -e '.[test]'
	{ sed -n '/^#/p' constraints.txt; $(CONSTRAINTS_VENV)/bin/python -m pip freeze --all --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(CONSTRAINTS_VENV)

clean:
	rm -rf $(VENV) var build *.egg-info
