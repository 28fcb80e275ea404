"""FlashInfer's JIT cache on disk: where it is and what it holds (the env probe and the JIT study read it)."""

from __future__ import annotations

import os
from pathlib import Path


def flashinfer_cache_dir() -> Path:
    """Where FlashInfer's JIT keeps compiled modules ($FLASHINFER_WORKSPACE_BASE or ~ , then .cache/flashinfer)."""
    base = os.environ.get("FLASHINFER_WORKSPACE_BASE") or str(Path.home())
    return Path(base) / ".cache" / "flashinfer"


def jit_cache_summary(root: Path) -> dict:
    """Size and compiled-module count of a FlashInfer JIT cache, per version/arch folder."""
    if not root.is_dir():
        return {"path": str(root), "exists": False, "size_bytes": 0, "modules": 0, "folders": {}}
    folders: dict[str, dict] = {}
    total_size = total_modules = 0
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        size = path.stat().st_size
        total_size += size
        key = "/".join(path.relative_to(root).parts[:2])
        entry = folders.setdefault(key, {"size_bytes": 0, "modules": 0})
        entry["size_bytes"] += size
        if path.suffix == ".so":
            entry["modules"] += 1
            total_modules += 1
    return {"path": str(root), "exists": True, "size_bytes": total_size, "modules": total_modules,
            "folders": folders}
