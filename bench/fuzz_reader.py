"""Fuzz the static reader and walker with 10,000 generated and mutated configs (``-n`` for more).

The property and the strategies live in :mod:`tests.support.fuzz` (shared with the test
suite, which runs a few hundred cases). Run from the project root::

    .venv/bin/python -m bench.fuzz_reader [-n 50000]
"""

from __future__ import annotations

from tests.support.fuzz import main

if __name__ == "__main__":
    main()
