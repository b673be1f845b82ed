"""Path globs matched in linear time: a pattern from a configuration file cannot stall a run.

``*``, ``?`` and ``[...]`` stay inside one directory, ``**`` spans directories and ``**/``
also matches nothing. A regular expression built from such a glob backtracks exponentially
on adversarial patterns (measured: 20 ``*`` then ``x`` took 10.6 s per path with
``[^/]*[^/]*...``); here the pattern is a small automaton run over the path once, keeping
the set of pattern positions alive after each character: O(len(path) x len(pattern)),
and runs of ``*`` collapse first, so 5,000 stars cost what one does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Token kinds.
_LIT, _ONE, _CLS, _STAR, _GSTAR, _GDIR = range(6)


@dataclass(frozen=True)
class Glob:
    """A compiled path glob; :meth:`fullmatch` says whether a whole path matches."""

    pattern: str
    """The glob as normalised (``./`` dropped, ``**/`` prefixed when matching anywhere)."""
    tokens: tuple[tuple[int, object], ...]

    def fullmatch(self, text: str) -> bool:
        tokens = self.tokens
        end = len(tokens)
        states = _closure({0}, tokens)
        for ch in text:
            nxt: set[int] = set()
            for i in states:
                if i == end:
                    continue
                kind, arg = tokens[i]
                if kind == _LIT:
                    if ch == arg:
                        nxt.add(i + 1)
                elif kind == _ONE:
                    if ch != "/":
                        nxt.add(i + 1)
                elif kind == _CLS:
                    assert isinstance(arg, re.Pattern)
                    if ch != "/" and arg.fullmatch(ch):
                        nxt.add(i + 1)
                elif kind == _STAR:
                    if ch != "/":
                        nxt.add(i)
                else:  # _GSTAR, _GDIR: any character, stay
                    nxt.add(i)
            if not nxt:
                return False
            states = _closure(nxt, tokens)
        return end in states


def _closure(states: set[int], tokens: tuple[tuple[int, object], ...]) -> set[int]:
    """Add the positions reachable without consuming a character (stars may match nothing)."""
    out = set(states)
    stack = list(states)
    while stack:
        i = stack.pop()
        if i >= len(tokens):
            continue
        kind = tokens[i][0]
        targets: tuple[int, ...] = ()
        if kind in (_STAR, _GSTAR):
            targets = (i + 1,)
        elif kind == _GDIR:  # "**/": nothing at all (skip its "/"), or "...", then "/"
            targets = (i + 1, i + 2)
        for t in targets:
            if t not in out:
                out.add(t)
                stack.append(t)
    return out


def compile_glob(pattern: str, *, anywhere: bool = True) -> Glob:
    """Compile a path glob: ``*``/``?``/``[...]`` stay inside one directory, ``**`` spans any.

    ``models/mc/**`` matches every file below ``models/mc``; ``**/*.h5`` every .h5 anywhere;
    with ``anywhere``, a pattern without ``/`` (``*.h5``) matches the file name in any
    directory, as in .gitignore.
    """
    pat = pattern.replace("\\", "/").strip()
    while pat.startswith("./"):
        pat = pat[2:]
    if anywhere and "/" not in pat.rstrip("/"):
        pat = "**/" + pat
    if pat.endswith("/"):
        pat += "**"
    tokens: list[tuple[int, object]] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            j = i
            while j < n and pat[j] == "*":
                j += 1
            if j - i >= 2 and j < n and pat[j] == "/":
                tokens.append((_GDIR, None))
                tokens.append((_LIT, "/"))
                i = j + 1
            else:
                kind = _GSTAR if j - i >= 2 else _STAR
                if tokens and tokens[-1][0] in (_STAR, _GSTAR):  # "*" after "**": one token
                    kind = max(kind, tokens.pop()[0])
                tokens.append((kind, None))
                i = j
        elif c == "?":
            tokens.append((_ONE, None))
            i += 1
        elif c == "[" and (j := pat.find("]", i + 2)) > 0:
            body = pat[i + 1:j]
            if body.startswith("!"):
                body = "^" + body[1:]
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            try:
                tokens.append((_CLS, re.compile(f"[{body}]")))
            except re.error:
                tokens.extend((_LIT, ch) for ch in pat[i:j + 1])
            i = j + 1
        else:
            tokens.append((_LIT, c))
            i += 1
    return Glob(pat, tuple(tokens))
