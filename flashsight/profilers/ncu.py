"""Nsight Compute: the command line for one profiled job, and its adapter.

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

from flashsight.host.procs import tail
from flashsight.profilers import tools
from flashsight.profilers.base import Profiler
from flashsight.schema.layout import LOG_FILE, REPORT_STEM
from flashsight.schema.metric_catalog import EXTRA_METRICS_SM90

DEFAULT_CLOCK_CONTROL = "base"  # ncu locks the GPU's clocks to base while it profiles
DEFAULT_CACHE_CONTROL = "all"  # ncu flushes every cache before each replay pass
CLOCK_CONTROLS = ("base", "none")
CACHE_CONTROLS = ("all", "none")

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
    clock_control: str | None = None,
    cache_control: str | None = None,
    unique_launches: bool = False,
) -> list[str]:
    """argv for `ncu … --export <stem> target…`. With neither ncu_set nor sections, the lean default sections.

    `extra_metrics` are the catalog's additions (SM 9.0 by default; pass () on a GPU that lacks those names).
    clock_control / cache_control: ncu's --clock-control (base: locked to base clocks, ncu's default; none: the
    GPU's own, as nsys sees them) and --cache-control (all: caches flushed before each replay pass; none).
    unique_launches: profile each launch configuration (kernel, grid, block, ...) once, skipping its repeats
    (`--filter-mode per-launch-config --launch-count 1`). ncu applies that filter over the whole process, so
    it is only asked for with at most one measured range (one config per process): a batched process holds
    several configs whose equal launch shapes do not mean equal work (a decode kernel at another kv_len).
    """
    argv = [ncu]
    if clock_control:
        argv += ["--clock-control", clock_control]
    if cache_control:
        argv += ["--cache-control", cache_control]
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
    if unique_launches and len(nvtx_includes) <= 1:
        argv += ["--filter-mode", "per-launch-config", "--launch-count", "1"]
    argv += ["--export", str(report_stem), "--force-overwrite", "--target-processes", "all"]
    return argv + list(target_argv)


class Ncu(Profiler):
    name = "ncu"
    captures = True
    artifact_suffixes = (".ncu-rep",)

    def require(self) -> None:
        tools.require_ncu()

    def argv(self, target_argv, job_dir, nvtx_includes, options):
        return ncu_profile_argv(Path(job_dir) / REPORT_STEM, target_argv, nvtx_includes=nvtx_includes,
                                ncu_set=options.set, sections=options.sections, metrics=options.metrics,
                                clock_control=options.clock_control, cache_control=options.cache_control,
                                unique_launches=options.unique_launches) + list(options.extra_args)

    def plan_options(self, options: dict, nvtx_includes: list[str]) -> dict:
        return options | ({"nvtx_include": list(nvtx_includes)} if nvtx_includes else {})

    def read(self, job_dir):
        from flashsight.parsers import read_input

        report = self.artifact(job_dir)
        return read_input(report), [report]

    def conditions(self, argv: list[str]) -> dict:
        """ncu's clock and cache control as the job ran them (ncu's defaults where the argv names none)."""
        def option(flag: str, default: str) -> str:
            return argv[argv.index(flag) + 1] if flag in argv[:-1] else default
        return {"ncu_clock_control": option("--clock-control", DEFAULT_CLOCK_CONTROL),
                "ncu_cache_control": option("--cache-control", DEFAULT_CACHE_CONTROL)}

    def check(self, rows: dict[str, int], job_dir: Path) -> str | None:
        """ncu can exit 0 having profiled nothing (a wrong NVTX filter, a crash it survived): that is a failure."""
        if rows.get("ncu_kernels", 0) > 0:
            return None
        lines = [ln.strip() for ln in tail(Path(job_dir) / LOG_FILE, 200).splitlines()
                 if "==ERROR==" in ln or "==WARNING==" in ln]
        return "ncu profiled no kernel" + (f": {lines[-1]}" if lines else "")


def main(args: Sequence[str] | None = None) -> None:
    """Print the argv shell-quoted, for scripts that run ncu themselves: ... -- TARGET..."""
    parser = argparse.ArgumentParser(prog="python -m flashsight.profilers.ncu")
    parser.add_argument("--stem", required=True, type=Path)
    parser.add_argument("--nvtx-include", action="append", default=[])
    parser.add_argument("--set", dest="ncu_set")
    parser.add_argument("--section", action="append", default=[])
    parser.add_argument("--metric", action="append", default=[])
    parser.add_argument("--ncu", default="ncu")
    parser.add_argument("--no-extra-metrics", action="store_true")
    parser.add_argument("--clock-control", choices=CLOCK_CONTROLS)
    parser.add_argument("--cache-control", choices=CACHE_CONTROLS)
    parser.add_argument("--unique-launches", action="store_true")
    parser.add_argument("target", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    target = ns.target[1:] if ns.target[:1] == ["--"] else ns.target
    argv = ncu_profile_argv(
        ns.stem, target, ns.nvtx_include, ns.ncu_set, ns.section, ns.metric,
        ncu=ns.ncu, extra_metrics=() if ns.no_extra_metrics else EXTRA_METRICS_SM90,
        clock_control=ns.clock_control, cache_control=ns.cache_control, unique_launches=ns.unique_launches,
    )
    sys.stdout.write(shlex.join(argv) + "\n")


if __name__ == "__main__":
    main()
