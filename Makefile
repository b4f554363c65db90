# The two quickstart commands: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kikoto serve --data-dir ./data --listen 127.0.0.1:5000

test: $(STAMP)
	sh scripts/system-deps.sh
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/api -k sqlite

clean:
	rm -rf $(VENV) data .pytest_cache

bench: $(STAMP)
	@command -v docker-registry >/dev/null && command -v wrk >/dev/null && command -v skopeo >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry wrk skopeo curl >/dev/null)
	$(BIN)/python bench/run.py
