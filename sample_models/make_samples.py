"""The name the committed files and docs carry: runs ``python -m sample_models.make`` (same options)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repo root
from sample_models.make.__main__ import main

raise SystemExit(main())
