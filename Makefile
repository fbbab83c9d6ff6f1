# The two commands:  `make demo` (run the service on the demo corpus)  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/papertrend demo

serve: $(STAMP)
	$(BIN)/papertrend serve

test: $(STAMP)
	./scripts/ensure-chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	mkdir -p var
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var build *.egg-info
