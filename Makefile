# The developer interface: every target installs what it needs first. CI runs `make test` (.ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# pytest-xdist workers, one broker each: one per core, at most 4 (four on CI's two cores ran at load
# average 16-36 and timing tests failed; a fresh clone on two cores: 8 failed in 1,412 s)
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))

.PHONY: demo test check lint format install jars chromium broker bench clean

demo: install jars  ## run Kafka + worker + app + load locally; prints the URL; Ctrl-C stops all
	$(BIN)/python scripts/demo.py

test: install jars chromium  ## everything: lint, types, unit, integration on a real broker, browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest --hypothesis-profile=full -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

check: install  ## fast: lint, types and the tests that need no broker or browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not kafka and not browser" --hypothesis-profile=check $(PYTEST_ARGS)

broker: install jars  ## just a broker on 127.0.0.1:9092 (data in var/kafka) until Ctrl-C
	$(BIN)/python -m broker run

install: $(INSTALLED)
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

jars: install
	$(BIN)/python -m broker fetch

# The browser tests drive Debian's chromium (a downloaded browser build cannot be fetched here), with
# Debian's CJK and colour emoji fonts so names such as 東京ギア render as glyphs, not boxes.
PAGE_FONTS := fonts-noto-cjk fonts-noto-color-emoji
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@MISSING=$$(for p in $(PAGE_FONTS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || printf '%s ' $$p; done); \
	[ -z "$$MISSING" ] || { \
	  echo "installing Debian's fonts for the browser tests: $$MISSING..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$MISSING >/dev/null; }

format: install
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var broker/lib test-artifacts .pytest_cache .ruff_cache

bench: install jars chromium  ## every benchmark beside its limit (bench/results/latest.md); QUICK=1: small sizes, a few minutes
	$(BIN)/python -m bench $(if $(QUICK),--quick,)
