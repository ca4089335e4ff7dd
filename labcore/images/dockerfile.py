"""A Dockerfile subset, parsed into instructions (pure: no file system, no kernel).

The lab's builder understands what shows how layers and the build cache
work, and refuses the rest by name:

=============  ===========================================================
FROM           ``scratch`` (nothing), or a local OCI layout ``PATH[:TAG]``
COPY           files of the build context into the image: a new layer
RUN            a command run in a container over the layers so far: a layer
ENV            ``KEY=VALUE ...`` or ``KEY VALUE``: config only, no layer
WORKDIR        the directory RUN and the container start in: config only
CMD            the default command, JSON (exec) form or shell form
=============  ===========================================================

Lines ending in ``\\`` continue on the next one; ``#`` starts a comment.
A Dockerfile is UTF-8 text: other bytes, or an unbalanced quote, are
refused with the line they are on.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from ..errors import InvalidInputError

SUPPORTED = ("FROM", "COPY", "RUN", "ENV", "WORKDIR", "CMD")
KNOWN = SUPPORTED + ("ADD", "ARG", "ENTRYPOINT", "EXPOSE", "LABEL", "USER", "VOLUME", "HEALTHCHECK",
                     "ONBUILD", "SHELL", "STOPSIGNAL", "MAINTAINER")


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword, its arguments (already split), its line, its text."""

    keyword: str
    args: tuple
    line: int
    text: str

    def __str__(self) -> str:
        return self.text

    @property
    def makes_layer(self) -> bool:
        return self.keyword in ("COPY", "RUN")


def _logical_lines(text: str):
    """(first line number, joined text) for every instruction, continuations joined."""
    buf, start = [], None
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction is dropped, as docker does
        if start is None:
            start = number
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].rstrip())
            continue
        buf.append(stripped)
        yield start, " ".join(p for p in buf if p)
        buf, start = [], None
    if buf:
        yield start, " ".join(p for p in buf if p)


def _split(rest: str, line: int, keyword: str) -> list[str]:
    """Words as a shell splits them; an unbalanced quote names the line."""
    try:
        return shlex.split(rest)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise InvalidInputError(f"line {line}: {keyword} {rest!r}: {str(exc).lower()}",
                                "check the quotes: each \" or ' needs its closing one") from None


def decode(data: bytes, name: str = "the Dockerfile") -> str:
    """A Dockerfile's bytes as text: UTF-8 (a BOM allowed), or an error naming the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(f"{name}, line {line}: byte {data[exc.start]:#04x} is not UTF-8",
                                "save the Dockerfile as UTF-8 text") from None


def _json_array(rest: str, line: int, keyword: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None  # docker treats a broken JSON array as the shell form too
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise InvalidInputError(f"line {line}: {keyword} needs a non-empty JSON array of strings", 'e.g. ["sh", "-c", "..."]')
    return value


def _parse_env(rest: str, line: int) -> tuple:
    words = _split(rest, line, "ENV")
    if not words:
        raise InvalidInputError(f"line {line}: ENV needs KEY=VALUE", "for example ENV PATH=/bin")
    if "=" not in words[0]:  # the old form: ENV KEY the rest is the value
        key, _, value = rest.partition(" ")
        pairs = [(key, value.strip())]
    else:
        pairs = []
        for word in words:
            key, eq, value = word.partition("=")
            if not eq:
                raise InvalidInputError(f"line {line}: ENV {word!r} has no '='", "write KEY=VALUE")
            pairs.append((key, value))
    for key, _ in pairs:
        if not key or not (key[0].isalpha() or key[0] == "_") or not all(c.isalnum() or c == "_" for c in key):
            raise InvalidInputError(f"line {line}: bad variable name {key!r}", "letters, digits and '_'")
    return tuple(pairs)


def parse(text: str | bytes) -> list[Instruction]:
    """Parse a Dockerfile into instructions; ``InvalidInputError`` names the line of any problem.

    ``text`` may be the file's bytes (``Path.read_bytes()``): they are decoded
    as UTF-8 first (``decode``), so a stray Latin-1 byte names its line.
    """
    if isinstance(text, (bytes, bytearray)):
        text = decode(bytes(text))
    out: list[Instruction] = []
    for line, logical in _logical_lines(text):
        word, _, rest = logical.partition(" ")
        keyword, rest = word.upper(), rest.strip()
        if keyword not in KNOWN:
            raise InvalidInputError(f"line {line}: unknown instruction {word!r}",
                                    f"the lab's builder knows {', '.join(SUPPORTED)}")
        if keyword not in SUPPORTED:
            raise InvalidInputError(f"line {line}: {keyword} is not supported by the lab's builder",
                                    f"use {', '.join(SUPPORTED)}")
        if not rest:
            raise InvalidInputError(f"line {line}: {keyword} needs arguments", "see the Dockerfile reference")
        if keyword == "FROM":
            words = rest.split()
            if len(words) != 1:
                raise InvalidInputError(f"line {line}: FROM takes one image (no 'AS', no --platform here)",
                                        "FROM scratch, or FROM path/to/layout:tag")
            args = (words[0],)
        elif keyword == "COPY":
            words = _json_array(rest, line, keyword) or _split(rest, line, keyword)
            if any(w.startswith("--") for w in words):
                raise InvalidInputError(f"line {line}: COPY options ({words[0]}) are not supported",
                                        "COPY SRC... DEST, files of the build context")
            if len(words) < 2:
                raise InvalidInputError(f"line {line}: COPY needs a source and a destination", "COPY app.py /app/")
            args = tuple(words)
        elif keyword in ("RUN", "CMD"):
            exec_form = _json_array(rest, line, keyword)
            args = tuple(exec_form) if exec_form else ("/bin/sh", "-c", rest)
        elif keyword == "ENV":
            args = _parse_env(rest, line)
        else:  # WORKDIR
            args = (rest,)
        out.append(Instruction(keyword, args, line, f"{keyword} {rest}"))
    if not out or out[0].keyword != "FROM":
        raise InvalidInputError("a Dockerfile starts with FROM", "add FROM scratch (or FROM a local layout) first")
    if sum(i.keyword == "FROM" for i in out) > 1:
        line = [i.line for i in out if i.keyword == "FROM"][1]
        raise InvalidInputError(f"line {line}: a second FROM (multi-stage builds are not supported)",
                                "split it into two Dockerfiles: the second can start FROM the first's layout")
    return out


__all__ = ["Instruction", "parse", "decode", "SUPPORTED"]
