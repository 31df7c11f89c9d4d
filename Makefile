# The two commands a newcomer needs: `make up` runs the platform, `make test` the tests.
# Both install what is missing first (virtualenv, Python packages, Kafka jars, PostgreSQL).

PYTHON ?= python3
DEMO   ?= 1
KAFKA_BROKERS ?= 1
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: up down status test lint bench bench-scale bench-scaling chaos docs install clean

up: install           ## Kafka + PostgreSQL + every service, in the foreground; Ctrl-C stops all; DEMO=0: no demo cohort; KAFKA_BROKERS=3: a three-broker cluster
	CARECOORD_DEMO=$(DEMO) CARECOORD_KAFKA_BROKERS=$(KAFKA_BROKERS) $(PY) deploy/local/up.py

down:                 ## stop a stack left running
	CARECOORD_KAFKA_BROKERS=$(KAFKA_BROKERS) $(PYTHON) deploy/local/down.py

status:
	CARECOORD_KAFKA_BROKERS=$(KAFKA_BROKERS) $(PYTHON) deploy/local/stack.py status

test: install         ## lint, then the whole suite (unit + integration) against real Kafka and PostgreSQL
	$(PY) -m ruff check shared services tests deploy examples
	$(PY) -m mypy shared services
	$(PY) deploy/local/run_tests.py $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check shared services tests deploy examples
	$(PY) -m mypy shared services

bench: install        ## throughput side by side with raw clients and the eventsourcing library
	$(PY) deploy/local/run_bench.py

bench-scale: install    ## how cost grows: append rate by store size (10k/1M/10M), cold-cache commands by stream length, projection and replay by instances, memory; BENCH_ARGS=--quick
	$(PY) deploy/local/run_bench_scale.py $(BENCH_ARGS)

bench-scaling: install  ## 1-3 coordination and 1-2 pharmacy instances on this machine (docs/scaling.md)
	$(PY) deploy/local/bench_scaling.py

chaos: install        ## faults under load on a three-broker cluster, then loss/duplicate/replay checks (docs/reliability.md); CHAOS_ARGS=--bounded: the short one
	$(PY) deploy/local/chaos.py $(CHAOS_ARGS)

docs: install         ## docs/asyncapi.yaml from the services' event models (a test checks it is current)
	$(PY) -m deploy.asyncapi

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

clean: down
	rm -rf .run $(VENV)
