# The two quickstart commands: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast test-repeat lint bench bench-scale soak clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kikoto serve --data-dir ./data --listen 127.0.0.1:5000

# The second pass runs the client-facing e2e suites again on the replicated deployment's
# storage (PostgreSQL + SeaweedFS's S3); the suites that inspect local files stay out of it.
E2E_SHARED := tests/e2e/test_clients.py tests/e2e/test_ecr_api.py tests/e2e/test_walkthrough.py tests/e2e/test_ecr_fuzz.py \
              tests/e2e/test_ecr_compat.py tests/e2e/test_signing.py tests/e2e/test_paging.py \
              tests/e2e/test_pull_through.py tests/e2e/test_events.py tests/e2e/test_replication.py \
              tests/e2e/test_scanning.py tests/e2e/test_iam.py tests/e2e/test_web_identity.py \
              tests/e2e/test_conditions.py

test: $(STAMP)
	sh scripts/system-deps.sh
	$(BIN)/pytest -q -p no:cacheprovider
	KIKOTO_E2E_BACKEND=s3 $(BIN)/pytest -q -p no:cacheprovider $(E2E_SHARED)

# Flakiness made visible: the client-facing e2e suites N times (default 5), COPIES at once (2: a
# loaded machine); names every test that did not pass every time and exits 1 if there is one.
# KIKOTO_E2E_BACKEND=s3 repeats them on PostgreSQL + S3 instead.
N ?= 5
COPIES ?= 1
test-repeat: $(STAMP)
	sh scripts/system-deps.sh
	$(BIN)/python scripts/test_repeat.py --runs $(N) --copies $(COPIES)

# The gates CI runs before the tests: lint, format, the type-checking ratchet (import contracts
# are tests/unit/test_architecture.py).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python scripts/mypy_ratchet.py

test-fast: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/api -k "not postgresql"

clean:
	rm -rf $(VENV) data .pytest_cache

bench: $(STAMP)
	@command -v docker-registry >/dev/null && command -v wrk >/dev/null && command -v skopeo >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry wrk skopeo curl >/dev/null)
	sh scripts/system-deps.sh
	$(BIN)/python bench/run.py
	$(BIN)/python bench/replicated.py   # 1, 2, 3 replicas on PostgreSQL + SeaweedFS behind HAProxy
	$(BIN)/python bench/policy.py       # one decision over a 100-statement policy with Conditions

# docs/screenshots/ anew, from a demo registry (no test data): every console page at 1280 px,
# some in Hungarian and at 390 px, in Debian's chromium.
screenshots: $(STAMP)
	sh scripts/system-deps.sh
	$(BIN)/python scripts/screenshots.py

# Costs against the size of the registry (1k/10k/100k images, 10k repositories; SQLite, then
# PostgreSQL): JSON in bench/results/, log-log charts in docs/scale-*.png. About 25 minutes.
bench-scale: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	sh scripts/system-deps.sh
	$(BIN)/python bench/scale.py

# The soak (not part of `make test`): three replicas on PostgreSQL + SeaweedFS behind HAProxy,
# clients pushing, pulling, tagging and deleting while a replica is killed every minute and
# PostgreSQL is stopped twice, GC and lifecycle running; then fsck and every image pulled back.
# SOAK_MINUTES (default 15).
soak: $(STAMP)
	sh scripts/system-deps.sh
	$(BIN)/python bench/soak.py
