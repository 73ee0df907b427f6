# Hembesök: the two commands a newcomer types are `make run` and `make test`.
#
# Both create .venv, install the pinned dependencies, and start the embedded PostgreSQL (data in
# .pgdata/) unless DATABASE_URL is set. `make run` then migrates, loads the demo data, starts a
# Celery worker and beat when REDIS_URL is set, and serves on 127.0.0.1:$(PORT); Ctrl-C stops
# everything it started. `make test` runs ruff, mypy and the whole pytest suite.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MANAGE := $(PY) manage.py
PORT ?= 8000
# Two test processes (the machines have two cores); each gets its own test database.
PYTEST_ARGS ?= -n 2

# Development values: a newcomer sets nothing. Production sets its own (see README).
export DJANGO_DEBUG ?= 1
export SECRET_KEY ?= dev-only-not-secret-hembesok-7c1f0a
# Plain http on 127.0.0.1: no redirect to https, cookies without the Secure flag (production's
# defaults whenever DJANGO_DEBUG is off; see "Security" in config/settings.py).
export SECURE_SSL_REDIRECT ?= 0
export SECURE_COOKIES ?= 0
export PYTHONDONTWRITEBYTECODE := 1

# Start the embedded PostgreSQL unless DATABASE_URL is set; stop it again on exit (also on
# Ctrl-C) only when this recipe started it: a server that is already running (another make in
# another terminal) is used and left running. A second run reuses the data in .pgdata/;
# `make test` has a server of its own in .pgdata-test/, so tests never stop `make run`'s.
define with_database
STARTED_DB=
if [ -z "$${DATABASE_URL:-}" ]; then
  if DATABASE_URL="$$($(PY) -m core.devdb url 2>/dev/null)"; then
    echo "Embedded PostgreSQL already running on $$DATABASE_URL (left running at the end)"
  else
    DATABASE_URL="$$($(PY) -m core.devdb start)"
    STARTED_DB=1
    echo "Embedded PostgreSQL on $$DATABASE_URL"
  fi
  export DATABASE_URL
fi
stop_db() { if [ -n "$$STARTED_DB" ]; then $(PY) -m core.devdb stop || true; STARTED_DB=; fi; }
trap stop_db EXIT
endef

.PHONY: help install run test lint bench check-python clean lock

# The test run's embedded PostgreSQL is its own (see with_database).
test: export EMBEDDED_PGDATA := .pgdata-test

help:
	@echo "make run    set up and serve Hembesök on http://127.0.0.1:$(PORT) (demo data included)"
	@echo "make test   set up and run ruff, mypy and the whole test suite"

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is needed (set PYTHON=python3.11)")'

$(BIN)/activate: | check-python
	$(PYTHON) -m venv $(VENV)

# Install exactly the lock file's versions, each checked against its hash (requirements/dev.txt:
# pyproject.toml's pins and everything they pull in; the project itself is not a package, it
# runs from the checkout). Reinstall when either changes. `make lock` rewrites the lock files after a
# change to pyproject.toml; the image installs requirements/production.txt.
$(VENV)/.installed: pyproject.toml requirements/dev.txt $(BIN)/activate
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(with_database)
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo
	pids=()
	stop_all() {
	  for pid in "$${pids[@]}"; do kill "$$pid" 2>/dev/null || true; done
	  wait 2>/dev/null || true
	  pids=()
	  stop_db
	}
	# Restart a worker or beat that exits (as compose's restart: unless-stopped does); stop_all's
	# TERM ends the loop and the process it runs.
	keep_running() {
	  child=
	  trap '[ -n "$$child" ] && kill "$$child" 2>/dev/null; wait; exit 0' TERM
	  while :; do
	    "$$@" & child=$$!
	    wait "$$child" && status=0 || status=$$?
	    echo "$$4 exited ($$status); restarting it in 5 s" >&2
	    sleep 5 & wait $$!
	  done
	}
	if [ -n "$${REDIS_URL:-}" ]; then
	  keep_running $(BIN)/celery -A config worker --loglevel=INFO --concurrency=2 & pids+=($$!)
	  keep_running $(BIN)/celery -A config beat --loglevel=INFO & pids+=($$!)
	  echo "Celery worker and beat started (REDIS_URL is set)."
	else
	  echo "REDIS_URL is not set: Celery tasks run eagerly in the web process (development only)."
	fi
	trap stop_all EXIT
	trap 'stop_all; exit 130' INT TERM
	echo "Serving on http://127.0.0.1:$(PORT)/ (Ctrl-C stops everything)"
	$(MANAGE) runserver --noreload 127.0.0.1:$(PORT)

# The lock files, from pyproject.toml's pins (pip-tools in a throw-away environment; it needs the
# package index). It runs with an empty environment and no pip configuration, so the machine's
# own package sources never end up in the files. Run after changing a dependency, and commit
# both files.
PIP_COMPILE_ARGS := --quiet --generate-hashes --strip-extras --allow-unsafe
PIP_COMPILE = env -i PATH="$$PATH" HOME="$$tools" PIP_CONFIG_FILE=/dev/null "$$tools/bin/pip-compile"
lock: | check-python
	tools=$$(mktemp -d)
	$(PYTHON) -m venv "$$tools"
	"$$tools/bin/pip" install --quiet pip-tools==7.7.0
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) -o requirements/production.txt pyproject.toml
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) --extra dev -o requirements/dev.txt pyproject.toml
	rm -rf "$$tools"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Security checks (issue 24, item 6 e), after mypy and before pytest: bandit on the code
# ([tool.bandit] in pyproject.toml; findings reviewed, false positives marked `# nosec BXXX`
# with the reason), then pip-audit on the installed packages. pip-audit needs the vulnerability
# database (PyPI's per-release JSON, or OSV); when that answers for none or only some of the
# packages, pip-audit still prints "No known vulnerabilities found" and exits 0, so the recipe
# counts what was audited. A known vulnerability always fails. Packages not audited fail under
# REQUIRE_SERVICES=1 (CI) and are a loud "NOT AUDITED" line otherwise; PIP_AUDIT_UNREACHABLE=
# skip or =fail decides it explicitly.
PIP_AUDIT_UNREACHABLE ?= $(if $(filter 1,$(REQUIRE_SERVICES)),fail,skip)
define security_checks
$(BIN)/bandit -c pyproject.toml -r . -q
audit=$$(mktemp)
$(BIN)/pip-audit --local --skip-editable --progress-spinner off --timeout 15 \
  -f json -o "$$audit" 2>/dev/null || true
read -r total audited vulnerable reason < <($(PY) -c 'import json, sys; \
  text = open(sys.argv[1]).read(); \
  deps = json.loads(text)["dependencies"] if text else []; \
  bad = [d for d in deps if d.get("vulns")]; \
  [print("pip-audit:", d["name"], d["version"], *(v["id"] for v in d["vulns"]), \
         file=sys.stderr) for d in bad]; \
  skipped = [d["skip_reason"] for d in deps if "skip_reason" in d]; \
  print(len(deps), len(deps) - len(skipped), len(bad), \
        (skipped or ["pip-audit could not connect to it"])[0])' "$$audit")
rm -f "$$audit"
if [ "$$vulnerable" -gt 0 ]; then
  echo "pip-audit: $$vulnerable installed packages have known vulnerabilities (above)"; exit 1
elif [ "$$total" -gt 0 ] && [ "$$audited" -eq "$$total" ]; then
  echo "pip-audit: $$total packages audited, no known vulnerabilities"
else
  echo "pip-audit: NOT AUDITED: $$((total - audited)) packages ($$audited audited): the"
  echo "  vulnerability database does not answer from this machine ($$reason)"
  if [ "$(PIP_AUDIT_UNREACHABLE)" != skip ]; then
    echo "  PIP_AUDIT_UNREACHABLE=$(PIP_AUDIT_UNREACHABLE): a failure (=skip accepts it)"; exit 1
  fi
fi
endef

test: install
	$(with_database)
	$(MAKE) --no-print-directory lint
	$(MANAGE) makemigrations --check --dry-run
	$(security_checks)
	$(BIN)/pytest $(PYTEST_ARGS)

# Speed as ratios to a floor measured in the same run (needs the demo data: `make run` once).
bench: install
	$(with_database)
	$(MANAGE) bench_visits

# Mutation testing (issue 23): do the tests notice when a money or report rule is changed? Not
# part of `make test` or CI: a module takes from minutes to hours.
#   make mutate                            the modules of [tool.mutmut] only_mutate (pyproject)
#   make mutate MUTATE=funding.allocation  one module (or mutant-name prefix: MUTATE=
#                                          reporting.selectors.x_reach_by_basis); several
#                                          separated by spaces
# Installs mutmut from the `mutate` extra and runs one mutant at a time (MUTATE_JOBS) in
# mutants/, a copy of the project (git-ignored; delete it to start afresh). Each mutant runs
# only the tests of [tool.mutmut] that reached the mutated function. mutmut's own process
# migrates a test database (test_<database>_<its pid>, tests/conftest.py) that every mutant's
# pytest, forked from it, reuses (--reuse-db); it is dropped at the end. Before any mutant's
# tests run, strict mypy checks the mutated copy ([tool.mutmut] type_check_command): a mutant
# it refuses could never land (CI runs mypy), so it is "caught by type check" and counts as
# killed. Then the kill ratio per module, the two ways of being killed apart; survivors with
# `.venv/bin/mutmut results`, one with `.venv/bin/mutmut show NAME`. Verdicts are kept between
# runs, also when the tests change: rerun mutants by name (`.venv/bin/mutmut run NAME...`),
# or delete mutants/ to start afresh.
MUTATE ?= funding.compensation funding.allocation funding.ledger reporting.selectors
MUTATE_JOBS ?= 1

$(VENV)/.mutate-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev,mutate]"
	touch $@

.PHONY: mutate
mutate: $(VENV)/.mutate-installed
	$(with_database)
	pidfile=$$(mktemp)
	drop_test_db() {
	  [ -s "$$pidfile" ] || return 0
	  $(PY) -c 'import os, sys, psycopg; from psycopg import conninfo, sql; \
	    url = os.environ["DATABASE_URL"]; db = conninfo.conninfo_to_dict(url)["dbname"]; \
	    psycopg.connect(url, dbname="postgres", autocommit=True).execute( \
	      sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format( \
	        sql.Identifier(f"test_{db}_{sys.argv[1]}")))' "$$(cat "$$pidfile")" || true
	  rm -f "$$pidfile"
	}
	trap 'drop_test_db; stop_db' EXIT
	start=$$(date +%s)
	bash -c 'echo $$$$ > "$$0"; exec "$$@"' "$$pidfile" \
	  $(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(foreach m,$(MUTATE),'$(m)*')
	echo "mutate: $$(( $$(date +%s) - start )) s"
	$(BIN)/mutmut results --all true | awk -F': ' -v wanted='$(MUTATE)' '
	  { name = $$1; sub(/^ +/, "", name)
	    for (i = split(wanted, w, " "); i > 0; i--)
	      if (index(name, w[i]) == 1) { n[w[i]]++; seen[w[i], $$2]++ } }
	  END { for (i = split(wanted, w, " "); i > 0; i--) if (n[w[i]])
	          printf "%s: %d of %d killed (%.0f %%): %d by the tests, %d caught by type check;" \
	            " survived %d, no tests %d, timeout %d\n", w[i],
	            killed(w[i]), n[w[i]], 100 * killed(w[i]) / n[w[i]],
	            seen[w[i], "killed"], seen[w[i], "caught by type check"],
	            seen[w[i], "survived"], seen[w[i], "no tests"], seen[w[i], "timeout"] }
	  function killed(m) { return seen[m, "killed"] + seen[m, "caught by type check"] }'

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache staticfiles
