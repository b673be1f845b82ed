"""Fixtures shared by the reader's tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture()
def busy_cores():
    """One pure-CPU busy loop per core (and one more), stopped by pid afterwards."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range((os.cpu_count() or 2) + 1)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
