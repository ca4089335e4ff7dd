"""``expect``: a fact the chapter states, checked where it is shown.

Every notebook proves what its prose claims: if the kernel ever behaves
otherwise, running the notebook fails at the claim, with the claim as the
message. ``expect(inner == 1, "a process sees itself as PID 1 of its new pid
namespace")`` reads as the sentence it checks; a failure says which
sentence stopped being true, and what was seen instead.
"""

from __future__ import annotations


class FactError(AssertionError):
    """What the chapter says did not happen on this machine."""


def expect(fact: bool, claim: str, seen: object = None) -> None:
    if not fact:
        detail = f" (seen: {seen!r})" if seen is not None else ""
        raise FactError(f"the chapter says {claim}, but this machine disagrees{detail}")


def expect_equal(seen: object, wanted: object, claim: str) -> None:
    if seen != wanted:
        raise FactError(f"the chapter says {claim}: expected {wanted!r}, seen {seen!r}")


__all__ = ["expect", "expect_equal", "FactError"]
