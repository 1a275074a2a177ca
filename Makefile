# The two commands of the README:
#   make demo   set everything up, generate a week of demo feeds, run the nightly pipeline on it
#   make test   set everything up and run every test (what CI runs)
#   make demo-urgent  after make demo: an HR dismissal event freezes access within seconds
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
DEMO_START ?= 2026-03-01
DEMO_END   ?= 2026-03-07
DEMO_SCALE ?= small

.PHONY: install services demo demo-urgent test airflow-dags-test clean-demo

install: $(VENV)/.installed

# Re-installs whenever the lock file or pyproject changes.
$(VENV)/.installed: requirements.lock pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap.sh
	touch $@

services:
	scripts/ensure-services.sh

demo: install
	BIN=$(BIN) DEMO=$(DEMO) DEMO_START=$(DEMO_START) DEMO_END=$(DEMO_END) DEMO_SCALE=$(DEMO_SCALE) scripts/demo.sh

# A dismissal event freezes access within seconds (docs/events.md): on the demo `make demo` built.
demo-urgent: install
	@[ -f $(DEMO)/warehouse/vigil.duckdb ] || $(MAKE) demo
	DEMO=$(DEMO) $(BIN)/python scripts/demo_urgent.py

# On both cores: pytest-xdist, one work unit per test file (tests/conftest.py). For your own loop:
#   .venv/bin/python -m pytest -m "not slow"      (a single file or -k runs in one process)
test: install services
	$(BIN)/python -m pytest -n auto

# The nightly DAG under Airflow itself, on the demo data (run `make demo` first).
AIRFLOW_ENV = AIRFLOW_HOME=$(CURDIR)/.airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
	VIGIL_LANDING=$(CURDIR)/$(DEMO)/landing VIGIL_WAREHOUSE=$(CURDIR)/$(DEMO)/warehouse/vigil.duckdb \
	VIGIL_OUT=$(CURDIR)/$(DEMO)/out VIGIL_MODE=demo PYTHONWARNINGS='$(AIRFLOW_HARMLESS_WARNINGS)'
# Third-party warnings known to be harmless here (optional graph rendering, Airflow's and Starlette's
# own deprecations): silenced so the night's log is readable. Commas separate filters.
AIRFLOW_HARMLESS_WARNINGS = ignore:Could not import graphviz,ignore:The `airflow.utils.operator_helpers.determine_kwargs` attribute is deprecated,ignore:Using `httpx` with `starlette.testclient` is deprecated
DATE ?= $(DEMO_END)
airflow-dags-test: install
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate >/dev/null
	$(AIRFLOW_ENV) $(BIN)/airflow dags test vigil_nightly $(DATE)
	@state=$$($(AIRFLOW_ENV) $(BIN)/airflow dags state vigil_nightly $(DATE) 2>/dev/null | tail -n 1); \
	if [ "$$state" = success ]; then echo "✓ vigil_nightly $(DATE) under Airflow: every task succeeded (dag run state: success)"; \
	else echo "✗ vigil_nightly $(DATE) under Airflow: dag run state $$state" >&2; exit 1; fi

clean-demo:
	rm -rf $(DEMO)
