# Two commands on a fresh machine: `make demo` and `make test`. Everything else is optional.
UV_VERSION := 0.13.9
TOOLS := .local/tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python

.PHONY: demo test ui lint format bench influxd venv clean

demo: venv influxd ## Run the real pipeline on a local InfluxDB + simulated Octopus account, print a table
	$(PY) -m octograph_pipeline.dev.demo run

test: venv influxd ## The whole test suite (starts its own private InfluxDB and simulator)
	$(PY) -m pytest

ui: venv influxd ## Dagster UI (http://127.0.0.1:3000) on the demo stack; Ctrl-C stops everything
	$(PY) -m octograph_pipeline.dev.demo ui

bench: venv influxd ## The performance report: a year through the CLI, the floor, UI backfills, 100 households (~25 min)
	$(PY) -m benchmarks.report

lint: venv
	$(UV) run --frozen ruff check octograph_pipeline octograph_pipeline_tests benchmarks
	$(UV) run --frozen ruff format --check octograph_pipeline octograph_pipeline_tests benchmarks

format: venv
	$(UV) run --frozen ruff format octograph_pipeline octograph_pipeline_tests benchmarks
	$(UV) run --frozen ruff check --fix octograph_pipeline octograph_pipeline_tests benchmarks

influxd:
	@scripts/ensure-debian-package.sh influxd influxdb "InfluxDB 1.x server"

venv: .venv/.synced

$(UV):
	@scripts/bootstrap-uv.sh $(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock Makefile
	$(UV) sync --frozen --compile-bytecode
	@touch $@

clean: ## Remove the virtualenv and all local state (InfluxDB data, DAGSTER_HOME)
	-$(PY) -m octograph_pipeline.dev.influxd stop --dir .local/influxdb
	rm -rf .venv .local
