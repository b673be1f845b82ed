"""Byte-level fuzzing of whole files (bit flips, zeroed blocks, truncations of every sample).

    .venv/bin/python -m bench.fuzz_files [-n 3000] [--seed 0]

The property and the mutations are in :mod:`tests.support.fuzz_files` (shared with the suite).
"""

from __future__ import annotations

from tests.support.fuzz_files import main

if __name__ == "__main__":
    main()
