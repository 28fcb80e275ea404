"""The key that joins one kernel across tools: its mangled name, else a normal form of its demangled name.

nsys's `mangledName` equals ncu's `NameBase_MANGLED` (a .ncu-rep), and nsys's `demangledName` equals the report's
`NameBase_DEMANGLED`. ncu's CSV pages carry neither: their "Kernel Name" is a lossier demangling — literal casts
dropped (`<(unsigned int)8, __half>` -> `<8, __half>`), namespaces dropped or shortened (`flashinfer::norm::` ->
`norm::` or nothing), and brackets lost (`<unnamed>` -> `unnamed>`, `[lambda` -> `lambda`). `name_key` maps every
form to the same text: no casts before literals, no qualifiers, no brackets of those kinds, no spaces.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CAST = re.compile(r"\((?:[A-Za-z_][\w:]*\s)*[A-Za-z_][\w:]*\)(?=-?\d)")  # (unsigned int)8 -> 8
_QUALIFIER = re.compile(r"(?:[A-Za-z_]\w*|\(anonymous namespace\)|<?unnamed>)::")
_LOST = re.compile(r"[\[\]\s]")  # brackets the CSV drops, and spacing


@lru_cache(maxsize=65536)
def name_key(name: str | None) -> str | None:
    """The normal form of a demangled kernel name (None stays None)."""
    if not isinstance(name, str):
        return None
    text = _CAST.sub("", name)
    previous = None
    while previous != text:  # nested qualifiers: a::b::c::f
        previous, text = text, _QUALIFIER.sub("", text)
    return _LOST.sub("", text)
