"""Deterministic damage to real captures: every case is a function of (capture, seed), so a failure reproduces."""

from __future__ import annotations

import random


def rng(*key) -> random.Random:
    return random.Random("/".join(map(str, key)))  # str seeds hash stably across runs (sha512)


def offsets(n: int, count: int, *key, start: int = 0) -> list[int]:
    r = rng("offsets", *key)
    return sorted(r.randrange(start, n) for _ in range(count))


def cut(data: bytes, at: int) -> bytes:
    return data[:at]


def zero(data: bytes, at: int, size: int = 4096) -> bytes:
    out = bytearray(data)
    out[at:at + size] = bytes(len(out[at:at + size]))
    return bytes(out)


def flip(data: bytes, bits: int, *key) -> bytes:
    """`bits` single-bit flips at random places."""
    r = rng("flip", *key)
    out = bytearray(data)
    for _ in range(bits):
        i = r.randrange(len(out))
        out[i] ^= 1 << r.randrange(8)
    return bytes(out)


def ncu_rep_blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(start, header length, end) of every block of an .ncu-rep, from its own length prefixes."""
    from flashsight.parsers.ncu_rep_layout import block_bounds

    return [(start, length, end) for start, length, _, end in block_bounds(data)]


def line_ends(data: bytes) -> list[int]:
    """Offsets just after each newline (where a cut leaves whole rows)."""
    return [i + 1 for i, b in enumerate(data) if b == 0x0A]
