# Convenience names for the two README commands and a few developer tasks.
.PHONY: run test lint types seed
run:
	scripts/run
test:
	scripts/test
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check accounts agenda calsync recurrence tests scripts
types:
	.venv/bin/mypy
seed:
	.venv/bin/python manage.py seed_demo --reset
