"""``python -m dropctl`` and the ``dropctl`` console script (:func:`run`).

Ctrl-C is taken over (:func:`dropctl.interrupt.install`) before the command line's imports
(Typer, Rich), so an interrupt during start-up also ends with exit 130 and one line.
"""

import dropctl.interrupt as interrupt


def run() -> None:
    """The ``dropctl`` process: see :func:`dropctl.cli.main`."""
    interrupt.install()
    try:
        from dropctl.cli import main

        main()
    except KeyboardInterrupt:  # during the imports, or in the instant before main() ends
        interrupt.finish(interrupt.EXIT_INTERRUPTED)


if __name__ == "__main__":
    run()
