#!/bin/sh
# Run the whole test suite (unit, integration with real containers, ruff, mypy) as root.
# Extra arguments go to pytest, e.g. `contrib/test.sh -k attach -x`.
set -eu
cd "$(dirname "$0")/.."
# zsh and fish: the completion tests drive them besides bash (lxpy itself needs neither).
# gcc and libc6-dev: the escape tests build their static helper (tests/escape/escape.c).
# openssh-server: the remote tests run an sshd of their own on a loopback port (tests/sshd.py),
# never the system's.
contrib/install.sh --deps-only zsh fish gcc libc6-dev openssh-server
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
# A test file per worker at a time: a module's shared containers (the Debian images) stay
# in one process, and no two workers share a state root. One worker more than the cores:
# most of a test is waiting for containers, and 3 workers on 2 cores finish in 4.3 min
# where 2 take 5.1.
exec .venv/bin/python -m pytest -n "${LXPY_TEST_WORKERS:-$(($(nproc) + 1))}" --dist loadfile "$@"
