#!/usr/bin/env bash
# One command from a fresh clone: set up .venv, then run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k inspect, or -m slow for the long fuzz run).
# The suite runs on every core (pytest-xdist: -n auto, each test file on one worker so its module
# fixtures are built once); -n 0 runs it in this one process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
