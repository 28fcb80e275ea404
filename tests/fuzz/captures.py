"""The real captures the fuzz suite damages (committed copies of the shared H100 fixtures and Debian nsys
2022.4 exports), decompressed once, and their undamaged parse (row counts, rows per kernel) as the yardstick."""

from __future__ import annotations

import atexit
import functools
import gzip
import shutil
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
SOURCES = {
    "rmsnorm.ncu-rep": DATA / "foundation" / "rmsnorm_ncu.ncu-rep.gz",  # 1 kernel, source counters
    "dec.ncu-rep": DATA / "ncu" / "dec.ncu-rep.gz",  # 2 kernels
    "fi.sqlite": DATA / "nsys" / "h100_fi" / "fi.sqlite",  # nsys 2025.3, CUDA + NVTX
    "cpu.sqlite": DATA / "nsys" / "cpu_2022" / "cpu.sqlite",  # Debian nsys 2022.4, NVTX only
    "dec_raw.csv": DATA / "ncu" / "dec_raw.csv.gz",  # raw page, 2 kernels
    "raw_base.csv": DATA / "ncu" / "ncsv_raw_base.csv.gz",  # raw page in base units
    "details.csv": DATA / "ncu" / "ncsv_details.csv.gz",  # details page, 6 kernels
    "source.csv": DATA / "ncu" / "ncsv_source_rms.csv.gz",  # source page
}
_TMP = Path(tempfile.mkdtemp(prefix="flashsight-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)


@functools.cache
def data(name: str) -> bytes:
    src = SOURCES[name]
    return gzip.decompress(src.read_bytes()) if src.suffix == ".gz" else src.read_bytes()


@functools.cache
def baseline(name: str) -> tuple[dict[str, int], dict[str, list[int]]]:
    """(rows per table, kernel_id per row per table) of the undamaged capture, parsed by the same CLI."""
    from tests.fuzz.harness import invoke, rows_by_kernel

    folder = _TMP / name.replace(".", "_")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data(name))
    out = folder / "out"
    ran = invoke(["parse", path, "--out", out], out)
    assert ran.exit_code == 0 and ran.rows, f"the undamaged {name} must parse: {ran.output}"
    by_kernel = rows_by_kernel(out)
    shutil.rmtree(folder)
    return ran.rows, by_kernel
