"""Finding Nsight Systems, Nsight Compute and the qdstrm importer, and asking them their versions.

Order of precedence for each tool: an environment variable (FLASHSIGHT_NSYS, FLASHSIGHT_NCU,
FLASHSIGHT_QDSTRM_IMPORTER), then PATH, then the places NVIDIA's installers and Debian's packages use.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from flashsight.errors import ToolError

NSYS_ENV, NCU_ENV, IMPORTER_ENV = "FLASHSIGHT_NSYS", "FLASHSIGHT_NCU", "FLASHSIGHT_QDSTRM_IMPORTER"

_NSYS_GLOBS = (
    "/usr/local/cuda/bin/nsys",
    "/opt/nvidia/nsight-systems/*/bin/nsys",
    "/usr/local/cuda*/bin/nsys",
    # An nsys bundled inside Nsight Compute (it profiles, but cannot import its own .qdstrm).
    "/opt/nvidia/nsight-compute/*/host/target-linux-x64/nsys",
)
_NCU_GLOBS = ("/usr/local/cuda/bin/ncu", "/opt/nvidia/nsight-compute/*/ncu", "/usr/local/cuda*/bin/ncu")


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    version: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def _first_existing(patterns: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        # Newest install first: version folders sort lexically well enough (2025.3.1 > 2024.6.2).
        for hit in sorted(glob.glob(pattern), reverse=True):
            if os.access(hit, os.X_OK) and os.path.isfile(hit):
                return hit
    return None


def _from_env(var: str) -> str | None:
    value = os.environ.get(var)
    if not value:
        return None
    if not (os.path.isfile(value) and os.access(value, os.X_OK)):
        raise ToolError(f"{var}={value} is not an executable file")
    return value


def _version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    # nsys: "NVIDIA Nsight Systems version 2025.3.1.90-..."; ncu: "... Version 2025.3.1.0 (build ...)".
    match = re.search(r"[Vv]ersion\s+(\d+\.\d+[\w.\-]*)", out)
    return match.group(1) if match else (out.strip().splitlines() or [None])[-1]


@functools.cache
def find_nsys() -> Tool | None:
    path = _from_env(NSYS_ENV) or shutil.which("nsys") or _first_existing(_NSYS_GLOBS)
    return Tool("nsys", path, _version(path)) if path else None


@functools.cache
def find_ncu() -> Tool | None:
    path = _from_env(NCU_ENV) or shutil.which("ncu") or _first_existing(_NCU_GLOBS)
    return Tool("ncu", path, _version(path)) if path else None


def _importer_candidates(nsys_path: str) -> list[str]:
    """Where an importer sits relative to an nsys binary, across NVIDIA and Debian layouts."""
    real = Path(os.path.realpath(nsys_path))
    roots = {real.parent, real.parent.parent}
    if real.parent.name == "bin":  # /usr/bin/nsys from Debian points into /usr/lib/nsight-systems
        roots.add(Path("/usr/lib/nsight-systems"))
    hits: list[str] = []
    for root in sorted(roots):
        hits += [str(root / "QdstrmImporter")] + sorted(glob.glob(str(root / "*" / "QdstrmImporter")))
    return hits


@functools.cache
def find_importer() -> str | None:
    """The QdstrmImporter that turns a .qdstrm into a .nsys-rep, or None."""
    explicit = _from_env(IMPORTER_ENV)
    if explicit:
        return explicit
    on_path = shutil.which("QdstrmImporter")
    if on_path:
        return on_path
    nsys = find_nsys()
    candidates = _importer_candidates(nsys.path) if nsys else []
    candidates += sorted(glob.glob("/usr/lib/nsight-systems/*/QdstrmImporter"))
    candidates += sorted(glob.glob("/opt/nvidia/nsight-systems/*/host-linux-x64/QdstrmImporter"), reverse=True)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_nsys() -> Tool:
    tool = find_nsys()
    if tool is None:
        raise ToolError(f"nsys not found: put Nsight Systems on PATH or set {NSYS_ENV}")
    return tool


def require_ncu() -> Tool:
    tool = find_ncu()
    if tool is None:
        raise ToolError(f"ncu not found: put Nsight Compute on PATH or set {NCU_ENV}")
    return tool


def require_importer() -> str:
    path = find_importer()
    if path is None:
        raise ToolError(
            f"nsys left a .qdstrm and no QdstrmImporter was found: set {IMPORTER_ENV} or put it on PATH"
        )
    return path


def clear_cache() -> None:
    """Forget what was found (tests change PATH and the environment variables)."""
    for fn in (find_nsys, find_ncu, find_importer):
        fn.cache_clear()
