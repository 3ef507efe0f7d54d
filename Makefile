.PHONY: run test ci lint
run:
	./bin/run
test:
	./bin/test
ci:
	./.ci/run
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
