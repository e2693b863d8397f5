# Convenience targets; each is one of the README's commands.
.PHONY: install demo test lint

install:
	bash scripts/install.sh

demo: install
	hallwatch demo

test: install
	python -m pytest -q

lint:
	ruff check .
