"""Rewrite the README's generated tables from the rule catalogue (dropctl/rules.py).

    .venv/bin/python scripts/readme_tables.py          # update README.md in place
    .venv/bin/python scripts/readme_tables.py --check  # exit 1 if README.md is out of date

A block is everything between ``<!-- generated:NAME -->`` and ``<!-- /generated -->``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from dropctl.render.catalogue import TABLES

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- /generated -->)", re.S)


def regenerate(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + TABLES[m.group(2)]() + "\n" + m.group(4), text)


def main() -> int:
    text = README.read_text()
    new = regenerate(text)
    if "--check" in sys.argv:
        if new != text:
            print("README.md tables are out of date: run scripts/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
