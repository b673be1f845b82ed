"""``python -m dropctl``: the same entry point as the ``dropctl`` console script."""

from dropctl.cli import main

if __name__ == "__main__":
    main()
