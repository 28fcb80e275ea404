"""A large .ncu-rep made from a real one by replicating its kernels (for benchmarks/ncu_parse.py).

A real `--set full` capture of 1,000 kernels costs ncu 38 replay passes each: on the lent H200 even 250 small
kernels did not finish in 100 s (kernel replay), nor 1,000 in 200 s (application replay). So, as
benchmarks/nsys_bigexport.py does for nsys, the large report is the real one's own records repeated: the
source's blocks as they are, then copies of its result blocks (one profiled kernel each, with every metric,
source counter and rule ncu wrote for it) in their order until there are `kernels` results. A result refers
to its module's source block by id, which the original blocks already hold, so ncu_report reads each copy as
the kernel it copies (tests/parsers/test_ncu_bigreport.py checks the tables against the source's).

The default source, tests/data/ncu/h200/full.ncu-rep.gz (the H200 `--set full` capture of issue 10: FlashInfer
prefill, decode and its merge kernel, RMSNorm, fused add-RMSNorm, RoPE and a cuBLAS GEMM, 8 kernels at 0.2-2.4 MB
each), makes a report of ~2.1 MB per kernel: heavier than small kernels, as FlashInfer's SASS gives thousands of
source-counter rows per kernel.

Usage: python3 benchmarks/ncu_bigreport.py OUT.ncu-rep --kernels 1000 [--source REPORT(.gz)]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_SOURCE = ROOT / "tests" / "data" / "ncu" / "h200" / "full.ncu-rep.gz"


def read_source(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def result_blocks(data: bytes) -> list[bytes]:
    """The blocks that hold results (profiled kernels) and no source, in file order."""
    from flashsight.parsers.ncu_rep_layout import block_bounds

    return [data[start:end] for start, _, header, end in block_bounds(data)
            if header.get(2, 0) and not header.get(1, 0)]


def build(source: Path, out: Path, kernels: int) -> dict:
    """Write the replicated report to `out`; returns what it holds."""
    t0 = time.perf_counter()
    data = read_source(source)
    blocks = result_blocks(data)
    if not blocks:
        sys.exit(f"{source}: no result blocks to replicate")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        f.write(data)
        for k in range(len(blocks), kernels):
            f.write(blocks[k % len(blocks)])
    return {"source": str(source), "source_kernels": len(blocks), "kernels": max(kernels, len(blocks)),
            "bytes": out.stat().st_size, "build_s": round(time.perf_counter() - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--kernels", type=int, default=1000)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = ap.parse_args()
    if not args.source.is_file():
        sys.exit(f"{args.source}: no such file")
    info = build(args.source, args.out, args.kernels)
    print(f"{args.out}: {info['kernels']:,} kernels ({info['source_kernels']} real ones repeated), "
          f"{info['bytes'] / 2**20:,.0f} MiB, in {info['build_s']:.1f} s")


if __name__ == "__main__":
    main()
