"""The command line: parse arguments, call the library, print. No logic of its own.

Every user-facing failure is a FlashsightError, printed as one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from flashsight import __version__
from flashsight.errors import FlashsightError

console = Console()
err_console = Console(stderr=True)


class FlashsightGroup(click.Group):
    """Turns FlashsightError into `flashsight: error: <message>` and its exit code, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FlashsightError as exc:
            click.echo(f"flashsight: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=FlashsightGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flashsight")
def main() -> None:
    """Profile LLM-serving GPU kernels under Nsight Systems and Nsight Compute, and read the results."""


def _params_option(fn):
    return click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
                        help="A workload parameter; repeat for several.")(fn)


# --------------------------------------------------------------------------------------------- env


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole probe as JSON.")
def env(as_json: bool) -> None:
    """GPU, driver, CUDA, torch, FlashInfer and its JIT cache, nsys/ncu."""
    from flashsight.environment import probe
    from flashsight.outputs.terminal import print_env

    info = probe()
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        print_env(info, console)


# --------------------------------------------------------------------------------------------- workloads


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print every workload with its parameters as JSON.")
def workloads(as_json: bool) -> None:
    """Built-in workloads, their parameters with defaults and allowed values, and the study's grid."""
    from flashsight.outputs.terminal import print_workloads
    from flashsight.workloads import BUILTIN

    described = [w.describe() for w in BUILTIN.values()]
    if as_json:
        click.echo(json.dumps(described, indent=2))
    else:
        print_workloads(described, console)


# --------------------------------------------------------------------------------------------- run


@main.command()
@click.argument("workload")
@_params_option
@click.option("--out", type=click.Path(path_type=Path), help="Job directory for result.json (default runs/...).")
@click.option("--iters", type=click.IntRange(min=1), default=None, help="Measured steps (default 100).")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True, help="Unmeasured steps first.")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
def run(workload: str, params: tuple[str, ...], out: Path | None, iters: int | None, warmup: int,
        as_json: bool) -> None:
    """Run WORKLOAD once without a profiler: its own timing, rates and correctness.

    WORKLOAD is a built-in name, a Python file or package.module:function (see "Your own workloads").
    """
    from flashsight.api import run_workload
    from flashsight.outputs.terminal import print_any_result
    from flashsight.workloads.params import parse_assignments

    result, out = run_workload(workload, parse_assignments(params), out, warmup=warmup, iters=iters)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif result is not None:
        print_any_result(result, console)
        console.print(f"[dim]result: {out / 'result.json'}[/dim]")
    else:
        err_console.print(f"[dim]{workload} finished and wrote no result.json (log: {out / 'job.log'})[/dim]")


# --------------------------------------------------------------------------------------------- profile


@main.command()
@click.argument("workload")
@_params_option
@click.option("--tool", type=click.Choice(["nsys", "ncu"]), required=True, help="Which profiler.")
@click.option("--out", type=click.Path(path_type=Path), help="Job directory (default runs/...).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=1800, show_default=True,
              help="Seconds before the whole process tree is killed.")
@click.option("--ncu-set", default=None, help="ncu --set (e.g. full) instead of flashsight's section list.")
@click.option("--ncu-section", "ncu_sections", multiple=True, help="ncu --section; repeat for several.")
@click.option("--ncu-metrics", "ncu_metrics", multiple=True, help="ncu --metrics names; repeat for several.")
@click.option("--nvtx-include", "nvtx_includes", multiple=True, metavar="EXPR",
              help="ncu --nvtx-include (e.g. 'mydomain@step/'); replaces a built-in's own filter.")
def profile(workload: str, params: tuple[str, ...], tool: str, out: Path | None, timeout_s: float,
            ncu_set: str | None, ncu_sections: tuple[str, ...], ncu_metrics: tuple[str, ...],
            nvtx_includes: tuple[str, ...]) -> None:
    """Run one WORKLOAD config under nsys or ncu, keep the artifacts and parse them into tables."""
    from flashsight.api import profile as profile_one
    from flashsight.outputs.terminal import print_job
    from flashsight.profilers import ToolOptions
    from flashsight.workloads.params import parse_assignments

    options = ToolOptions(set=ncu_set, sections=ncu_sections, metrics=ncu_metrics)
    with console.status(f"{tool}: {workload}"):
        outcome, out = profile_one(workload, parse_assignments(params), tool, out, timeout_s=timeout_s,
                                   options=options, nvtx_includes=nvtx_includes)
    print_job(outcome, out, console)


# --------------------------------------------------------------------------------------------- parse


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the tables.")
@click.option("--format", "formats", multiple=True, type=click.Choice(["parquet", "csv", "json"]),
              default=("parquet",), show_default=True, help="Table file format; repeat for several.")
def parse(inputs: tuple[Path, ...], out: Path, formats: tuple[str, ...]) -> None:
    """Turn .sqlite / .nsys-rep / .qdstrm / .ncu-rep / ncu CSV files into the canonical tables."""
    from flashsight.host.files import write_tables
    from flashsight.profilers import read_captures

    tables, failures = read_captures(list(inputs))
    written = write_tables(tables, out, formats) if tables else []
    for name, df in tables.items():
        console.print(f"{name:<14} {len(df):>9,} rows")
    if written:
        console.print(f"[dim]{len(written)} file(s) in {out}[/dim]")
    for path, reason in failures.items():
        click.echo(f"flashsight: error: {reason}" if path in reason else f"flashsight: error: {path}: {reason}",
                   err=True)
    if failures:
        sys.exit(1)


# --------------------------------------------------------------------------------------------- stalls


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--kernel", "kernel_regex", metavar="REGEX", help="Only kernels whose name or NVTX range matches.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1, 30), help="Stall reasons per kernel.")
def stalls(target: Path, kernel_regex: str | None, top: int) -> None:
    """Warp-stall report per kernel: RUN_DIR (parsed tables or *.ncu-rep in it) or a .ncu-rep / ncu CSV FILE."""
    import re

    from flashsight.api import stall_tables
    from flashsight.errors import ParamError
    from flashsight.outputs.stalls_report import render_stalls

    if kernel_regex:
        try:
            re.compile(kernel_regex)
        except re.error as exc:
            raise ParamError(f"--kernel {kernel_regex!r}: not a regular expression ({exc})") from None
    for label, tables in stall_tables(target):
        console.rule(f"[bold]{label}[/]")
        render_stalls(tables, console, kernel_regex=kernel_regex, top=top)


# --------------------------------------------------------------------------------------------- sweep


@main.command()
@click.argument("plan", required=False, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Run directory (default runs/<time>-sweep-<name>).")
@click.option("--resume", is_flag=True, help="Continue the sweep in --out: finished jobs are kept, not redone.")
@click.option("--dry-run", is_flag=True, help="List the jobs and an estimated duration; run nothing.")
@click.option("--gpus", default=None, metavar="0,1,...", help="One worker per GPU (CUDA_VISIBLE_DEVICES).")
@click.option("--mode", type=click.Choice(["batched", "process"]), default=None,
              help="Several configs per process (the default plan's) or one process per job.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Configs per process when batched.")
@click.option("--min-free-gb", type=click.FloatRange(min=0), default=None,
              help="Free disk space required before each job (default: the plan's, else 2).")
@click.option("--retry-failed", is_flag=True, help="With --resume: run failed and timed-out jobs again.")
def sweep(plan: Path | None, out: Path | None, resume: bool, dry_run: bool, gpus: str | None, mode: str | None,
          batch_size: int | None, min_free_gb: float | None, retry_failed: bool) -> None:
    """Run every job of PLAN (a TOML file; default: the study's grids for every workload), parsed and merged."""
    from flashsight.api import open_sweep, preview_sweep, sweep_ncu_costs
    from flashsight.outputs.sweep_view import SweepView, print_dry_run, summary_line

    if resume and out is None:
        raise click.UsageError("--resume needs --out DIR (the sweep to continue)")
    if dry_run:
        loaded, statuses, seconds, run_mode, size = preview_sweep(plan, out, resume=resume, mode=mode,
                                                                  batch_size=batch_size)
        todo = [j for j in loaded.jobs if statuses.get(j.job_id) not in ("succeeded", "failed", "timed_out")]
        print_dry_run(loaded.jobs, statuses, seconds, run_mode, size, console, ncu_costs=sweep_ncu_costs(todo))
        return
    session = open_sweep(plan, out, resume=resume, retry_failed=retry_failed, gpus=gpus, mode=mode,
                         batch_size=batch_size, min_free_gb=min_free_gb)
    view = SweepView(console, session.store.counts, len(session.plan.jobs), f"sweep {session.plan.name}")
    if resume:
        sync = session.sync
        console.print(f"[dim]resuming {session.out}: {sync['done']} of {sync['jobs']} jobs already finished, "
                      f"{sync['new']} new, {sync['recovered']} adopted, {sync['requeued']} to run again[/dim]")
    summary = session.run(view.wait, on_event=view.on_event)
    click.echo(summary_line(session.plan.name, summary, session.out))  # one line, never wrapped: scripts grep it
    sys.exit(summary.exit_code)
