"""The one interface every profiler adapter implements, and the registry of adapters by tool name.

A job asks its adapter, never `tool == ...`: is the tool there, the argv that wraps the workload, what to do
around the run (nsys: end the agent it leaves), which file it left and how to read it into tables, and whether
a finished job is usable (ncu can exit 0 having profiled nothing).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from flashsight.errors import FlashsightError, ToolError
from flashsight.schema.layout import LOG_FILE, REPORT_STEM


@dataclass(frozen=True)
class ToolOptions:
    """A job's tool options, as the plan gives them (ncu's set/sections/metrics/nvtx_include; {} otherwise)."""

    set: str | None = None
    sections: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    clock_control: str | None = None  # ncu --clock-control (None: ncu's default, base)
    cache_control: str | None = None  # ncu --cache-control (None: ncu's default, all)
    unique_launches: bool = False  # ncu: each launch configuration once per measured range

    @classmethod
    def from_dict(cls, raw: dict) -> "ToolOptions":
        return cls(set=raw.get("set"), sections=tuple(raw.get("sections", ())),
                   metrics=tuple(raw.get("metrics", ())), clock_control=raw.get("clock_control"),
                   cache_control=raw.get("cache_control"), unique_launches=bool(raw.get("unique_launches")))


class Profiler:
    """The adapter for no profiler; the nsys and ncu adapters override what their tool does differently."""

    name = "none"
    captures = False  # leaves a capture that is parsed into tables (and cut to the measured range)
    artifact_suffixes: tuple[str, ...] = ()  # what the tool leaves as <job>/profile.<suffix>, best first

    def require(self) -> None:
        """Raise ToolError with a one-line hint when the tool cannot be found."""

    def argv(self, target_argv: list[str], job_dir: Path, nvtx_includes: list[str], options: ToolOptions) -> list[str]:
        return list(target_argv)

    def around_run(self, job_dir: Path):
        """A context manager around the profiled process (cleanup the tool needs)."""
        return contextlib.nullcontext()

    def plan_options(self, options: dict, nvtx_includes: list[str]) -> dict:
        """The tool options a plan's job of this tool keeps (part of its job id): none for most tools."""
        return {}

    def read(self, job_dir: Path) -> tuple[dict, list[Path]]:
        """The tables of the job's capture and the files they came from ({} and [] without a capture)."""
        return {}, []

    def check(self, rows: dict[str, int], job_dir: Path) -> str | None:
        """Why a job that exited 0 is still a failure (None: it is fine). rows: table -> rows it produced."""
        return None

    def warnings(self, rows: dict[str, int], job_dir: Path) -> list[str]:
        """What a user should know about a job that succeeded (nsys: no NVTX range was recorded)."""
        return []

    def conditions(self, argv: list[str]) -> dict:
        """The measurement conditions this tool imposed, read from the argv it ran (ncu: clock and cache control)."""
        return {}

    def artifact(self, job_dir: Path) -> Path:
        for suffix in self.artifact_suffixes:  # in order of preference: a finished report over a raw stream
            path = Path(job_dir) / f"{REPORT_STEM}{suffix}"
            if path.exists():
                return path
        raise ToolError(f"{job_dir}: the profiler wrote no {' / '.join(self.artifact_suffixes)} file "
                        f"(see {Path(job_dir) / LOG_FILE})")


def get_profiler(tool: str) -> Profiler:
    from flashsight.profilers.ncu import Ncu
    from flashsight.profilers.nsys import Nsys

    adapters = {"none": Profiler(), "nsys": Nsys(), "ncu": Ncu()}
    if tool not in adapters:
        raise FlashsightError(f"unknown tool {tool!r} (choose from {', '.join(TOOLS)})")
    return adapters[tool]


TOOLS = ("none", "nsys", "ncu")
