#!/bin/sh
# Run the whole test suite (unit, integration with real containers, ruff, mypy) as root.
# Extra arguments go to pytest, e.g. `contrib/test.sh -k attach -x`.
set -eu
cd "$(dirname "$0")/.."
# zsh and fish: the completion tests drive them besides bash (lxpy itself needs neither).
contrib/install.sh --deps-only zsh fish
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
# One worker per core, a test file per worker at a time: a module's shared containers
# (the Debian images) stay in one process, and no two workers share a state root.
exec .venv/bin/python -m pytest -n "${LXPY_TEST_WORKERS:-auto}" --dist loadfile "$@"
