# Shortcuts; the README's commands (bash scripts/run.sh, bash scripts/test.sh) need no make.
SPEC ?= examples/hello.json
RUN_ARGS = $(if $(BASE_URL),--base-url "$(BASE_URL)")

.PHONY: run test lint bench spec clean bootstrap

bootstrap:
	bash scripts/bootstrap.sh

run:
	bash scripts/run.sh

# one spec in this process (no queue, no worker), against the demo site or BASE_URL
spec: bootstrap
	.venv/bin/python -m worker.run "$(SPEC)" $(RUN_ARGS)

test:
	bash scripts/test.sh $(PYTEST_ARGS)

lint: bootstrap
	.venv/bin/ruff check .

bench: bootstrap
	.venv/bin/python bench/engine.py
	.venv/bin/python bench/worker.py
	.venv/bin/python bench/api.py

clean:
	rm -rf .venv artifacts .run instance .pytest_cache .ruff_cache test-output
