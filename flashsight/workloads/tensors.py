"""dtype names shared by the workloads, usable without torch (for validation and formulas)."""

from __future__ import annotations

DTYPES = ("float16", "bfloat16")
_SIZES = {"float16": 2, "bfloat16": 2, "float32": 4, "float8_e4m3fn": 1}


def element_size(dtype: str) -> int:
    return _SIZES[dtype]


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)
