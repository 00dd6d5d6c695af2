SPEC ?= examples/hello.json
PYTHON := .venv/bin/python
RUN_ARGS = $(if $(BASE_URL),--base-url "$(BASE_URL)")

.PHONY: run test lint bench clean bootstrap

bootstrap:
	bash scripts/bootstrap.sh

run: bootstrap
	$(PYTHON) -m worker.run "$(SPEC)" $(RUN_ARGS)

test: bootstrap
	.venv/bin/ruff check .
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: bootstrap
	.venv/bin/ruff check .

bench: bootstrap
	$(PYTHON) bench/engine.py

clean:
	rm -rf .venv artifacts .pytest_cache
