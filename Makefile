.PHONY: run test bench lint format

# Start the whole product (web, worker, beat) with demo data. Embedded defaults unless DATABASE_URL/REDIS_URL are set.
# Options: make run ARGS="--port 8001 --host 0.0.0.0 --no-install" (see scripts/run.py --help).
run:
	@python=$$(scripts/find-python.sh) && exec "$$python" scripts/run.py $(ARGS)

# Lint, migration check and the whole test suite on PostgreSQL and Redis (found or started).
test:
	@scripts/test.sh $(ARGS)

# Benchmarks (not part of `make test`); figures go to docs/performance.md.
bench:
	@scripts/test.sh tests/bench -p no:randomly -s $(ARGS)

lint:
	@.venv/bin/ruff check .

format:
	@.venv/bin/ruff format . && .venv/bin/ruff check --fix .
