"""The Nsight Compute command line for one profiled job.

The lean default collects the sections a warp-stall report and the ncu_kernels table need, plus the few metrics
the catalog wants for tensor %, DRAM bytes and FLOPs (SM 9.0 names); `--set full` replaces the sections when asked.
ncu's include filter takes `range/` (push/pop, default domain), `domain@range/` and `regex:` forms, not globs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from flashsight.parsers.metric_catalog import EXTRA_METRICS_SM90

LEAN_SECTIONS: tuple[str, ...] = (
    "SpeedOfLight",
    "MemoryWorkloadAnalysis",
    "ComputeWorkloadAnalysis",
    "Occupancy",
    "LaunchStats",
    "WarpStateStats",
    "SourceCounters",
)


def ncu_profile_argv(
    report_stem: Path,
    target_argv: Sequence[str],
    nvtx_includes: list[str],
    ncu_set: str | None = None,
    sections: Sequence[str] = (),
    metrics: Sequence[str] = (),
    *,
    ncu: str = "ncu",
    extra_metrics: Sequence[str] = EXTRA_METRICS_SM90,
) -> list[str]:
    """argv for `ncu … --export <stem> target…`. With neither ncu_set nor sections, the lean default sections.

    `extra_metrics` are the catalog's additions (SM 9.0 by default; pass () on a GPU that lacks those names).
    """
    argv = [ncu]
    if ncu_set:
        argv += ["--set", ncu_set]
    for section in sections or (() if ncu_set else LEAN_SECTIONS):
        argv += ["--section", section]
    wanted = list(dict.fromkeys([*extra_metrics, *metrics]))  # de-duplicated, order kept
    if wanted:
        argv += ["--metrics", ",".join(wanted)]
    if nvtx_includes:
        argv.append("--nvtx")
        for include in nvtx_includes:
            argv += ["--nvtx-include", include]
    argv += ["--export", str(report_stem), "--force-overwrite", "--target-processes", "all"]
    return argv + list(target_argv)


def main(args: Sequence[str] | None = None) -> None:
    """Print the argv shell-quoted (devtools/capture_ncu.sh uses it): ... -- TARGET..."""
    parser = argparse.ArgumentParser(prog="python -m flashsight.orchestrator.ncu")
    parser.add_argument("--stem", required=True, type=Path)
    parser.add_argument("--nvtx-include", action="append", default=[])
    parser.add_argument("--set", dest="ncu_set")
    parser.add_argument("--section", action="append", default=[])
    parser.add_argument("--metric", action="append", default=[])
    parser.add_argument("--ncu", default="ncu")
    parser.add_argument("--no-extra-metrics", action="store_true")
    parser.add_argument("target", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    target = ns.target[1:] if ns.target[:1] == ["--"] else ns.target
    argv = ncu_profile_argv(
        ns.stem, target, ns.nvtx_include, ns.ncu_set, ns.section, ns.metric,
        ncu=ns.ncu, extra_metrics=() if ns.no_extra_metrics else EXTRA_METRICS_SM90,
    )
    sys.stdout.write(shlex.join(argv) + "\n")


if __name__ == "__main__":
    main()
