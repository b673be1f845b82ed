"""stdout into a pipe: ``dropctl ... | head -1`` exits 141 with nothing on stderr, every time.

Two things made that exit depend on timing. Rich's ``Console.on_broken_pipe`` turns EPIPE into
``SystemExit(1)`` (a clean tree read as a policy failure under ``set -o pipefail``); and a report
that fits the pipe buffer was often written whole before ``head`` had read a line, so ``head``
took all of it in one ``read()`` and nobody saw the reader go away (exit 0 or 1 by chance).

For the command-line process (:func:`install`, when fd 1 is a FIFO) stdout becomes a writer that:

* writes lines in chunks of 1, 1, 2, 4, 8 ... lines and, before each chunk after the first, waits
  until the reader has taken everything written so far or has closed the pipe (Linux
  ``FIONREAD`` and ``POLLERR`` on the write end; a log number of waits, each bounded by
  :data:`WAIT_SECONDS`), so a reader that stops after N lines never holds the lines after them;
* swallows EPIPE in this one place: once the reader is gone, further output is dropped, nothing
  is printed on stderr and :func:`finish` reports it, so the process exits 141 (128 + SIGPIPE),
  what a shell shows for a Unix tool killed by SIGPIPE.

A reader that takes everything (``| cat``, ``| jq``, ``| head -n 1000`` on a short report) sees
the command's own exit code. Only the standard library is used here.
"""

from __future__ import annotations

import io
import os
import select
import stat
import struct
import sys
import time

EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE."""
WAIT_SECONDS = 5.0
"""Longest wait for the reader before a chunk (a reader that neither reads nor closes, e.g. a
pager showing its first page, then gets the rest as any blocking write would give it)."""

_state: dict[str, object] = {"writer": None}


class _PipeWriter(io.RawIOBase):
    """Raw writer on fd 1 (see the module docstring)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.gone = False
        """The reader closed the pipe before taking everything written."""
        self.chunk = 1
        """Lines in the current chunk."""
        self.left = 1
        """Newlines still to write before the current chunk ends."""
        self.wrote = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def write(self, b: object) -> int:
        data = memoryview(b).cast("B")  # type: ignore[arg-type]
        size = len(data)
        pos = 0
        while pos < size and not self.gone:
            if self.left == 0:  # a new chunk begins: the reader must have taken the last one
                if not self.settle():
                    self.gone = True
                    break
                self.chunk *= 2
                self.left = self.chunk
            end = pos
            raw = bytes(data[pos:])
            while self.left and end < size:
                nl = raw.find(b"\n", end - pos)
                if nl < 0:
                    end = size
                    break
                end = pos + nl + 1
                self.left -= 1
            self._write_all(data[pos:end])
            self.wrote = True
            pos = end
        return size  # after EPIPE the rest is dropped, never an error (see the module docstring)

    def _write_all(self, data: memoryview) -> None:
        while len(data) and not self.gone:
            try:
                n = os.write(self.fd, data)
            except BrokenPipeError:
                self.gone = True
                return
            except InterruptedError:
                continue
            data = data[n:]

    def settle(self) -> bool:
        """Wait until the pipe is empty (True) or its reader closed it (False)."""
        import fcntl
        import termios

        poller = select.poll()
        poller.register(self.fd, 0)  # only POLLERR/POLLHUP: the reader went away
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            if poller.poll(0):
                return False
            try:
                unread = struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0" * 4))[0]
            except OSError:  # no FIONREAD on this pipe: behave like a plain write
                return True
            if unread == 0:
                return True
            if time.monotonic() > deadline:
                return True
            if poller.poll(2):
                return False


def install() -> None:
    """Put the writer under ``sys.stdout`` when fd 1 is a pipe (the ``dropctl`` process only)."""
    if _state["writer"] is not None or sys.platform == "win32":
        return
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):  # stdout replaced or closed
        return
    writer = _PipeWriter(fd)
    _state["writer"] = writer
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(writer), encoding=sys.stdout.encoding,
                                  errors=sys.stdout.errors, newline=None, line_buffering=False)


def finish() -> bool:
    """Flush stdout and wait for the reader; True when it went away before taking everything."""
    writer = _state["writer"]
    if not isinstance(writer, _PipeWriter):
        return False
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    if writer.wrote and not writer.gone and not writer.settle():
        writer.gone = True
    return writer.gone


def reader_gone() -> bool:
    """Whether the reader of stdout has gone away (always False unless :func:`install` ran)."""
    writer = _state["writer"]
    return isinstance(writer, _PipeWriter) and writer.gone
