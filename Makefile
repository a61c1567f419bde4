# The two set-up commands of the README. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest clean chromium wrk systemd translations

$(BIN)/.installed-dev: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed-dev
	$(BIN)/cx360 demo

test: $(BIN)/.installed-dev chromium wrk systemd
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# The browser tests (tests/web) drive Debian's Chromium; Playwright never downloads one.
chromium:
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

# The ingest benchmark's load generator (bench/ingest_http.py; its smoke test runs in make test).
wrk:
	command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)

# The pages' German catalog: new strings from code and templates into the .po (translate
# them), then the .mo the app loads. tests/web/test_i18n.py fails while a string is missing.
TRANSLATIONS := connector/web/translations
translations: $(BIN)/.installed-dev
	$(BIN)/pybabel extract -F connector/web/babel.cfg -k lazy_gettext --no-location --omit-header --sort-output -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --width 100 --ignore-obsolete
	$(BIN)/pybabel compile -d $(TRANSLATIONS)

# systemd-analyze checks the units in deploy/systemd (tests/test_deploy.py).
systemd:
	command -v systemd-analyze >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq systemd)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
