# Shortcuts; the README's commands (bash scripts/run.sh, bash scripts/test.sh) need no make.
SPEC ?= examples/hello.json
RUN_ARGS = $(if $(BASE_URL),--base-url "$(BASE_URL)")

.PHONY: run test lint bench clean bootstrap

bootstrap:
	bash scripts/bootstrap.sh

run:
	bash scripts/run.sh "$(SPEC)" $(RUN_ARGS)

test:
	bash scripts/test.sh $(PYTEST_ARGS)

lint: bootstrap
	.venv/bin/ruff check .

bench: bootstrap
	.venv/bin/python bench/engine.py

clean:
	rm -rf .venv artifacts .pytest_cache .ruff_cache
