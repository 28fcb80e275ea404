"""The command line: parse arguments, call the library, print. No logic of its own.

Every user-facing failure is a FlashsightError, printed as one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flashsight import __version__
from flashsight.errors import FlashsightError
from flashsight.outputs.terminal import terminal_console

console = terminal_console()
err_console = terminal_console(stderr=True)


class FlashsightGroup(click.Group):
    """Turns FlashsightError into `flashsight: error: <message>` and its exit code, never a traceback; and
    click's usage errors (a usage block, a hint and the error on three lines) into that one line too."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FlashsightError as exc:
            click.echo(f"flashsight: error: {_one_line(str(exc))}", err=True)
            ctx.exit(exc.exit_code)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())) and exc.ctx is not None:
                click.echo(exc.ctx.get_help())  # bare `flashsight`: the help, as click shows it
                sys.exit(exc.exit_code)
            click.echo(f"flashsight: error: {_one_line(exc.format_message())} (see '{_command(exc.ctx)} --help')",
                       err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"flashsight: error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("flashsight: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `flashsight workloads | head -1`: the reader left, nothing to report
            sys.stderr.close()
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _command(ctx) -> str:
    """'flashsight parse' for the context of a usage error (whatever the program was started as)."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["flashsight", *reversed(names)])


@click.group(cls=FlashsightGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flashsight")
def main() -> None:
    """Profile LLM-serving GPU kernels under Nsight Systems and Nsight Compute, and read the results."""
    from flashsight.api import use_system_allocator

    use_system_allocator()  # one heap for Arrow and numpy: a lower peak for large captures (host/memory.py)


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf (nan passes every comparison of FloatRange)."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _params_option(fn):
    return click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
                        help="A workload parameter; repeat for several.")(fn)


# --------------------------------------------------------------------------------------------- env


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole probe as JSON.")
def env(as_json: bool) -> None:
    """GPU, driver, CUDA, torch, FlashInfer and its JIT cache, nsys/ncu."""
    from flashsight.api import environment
    from flashsight.outputs.terminal import print_env

    info = environment()
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        print_env(info, console)


# --------------------------------------------------------------------------------------------- workloads


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print every workload with its parameters as JSON.")
def workloads(as_json: bool) -> None:
    """Built-in workloads, their parameters with defaults and allowed values, and the study's grid."""
    from flashsight.api import describe_workloads
    from flashsight.outputs.terminal import print_workloads

    described = describe_workloads()
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
    from flashsight.api import params_from_assignments, run_workload
    from flashsight.outputs.terminal import print_any_result

    result, out = run_workload(workload, params_from_assignments(workload, params), out, warmup=warmup, iters=iters)
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
@click.option("--timeout", "timeout_s", type=FiniteFloat(min=1, max=30 * 24 * 3600), default=1800, show_default=True,
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
    from flashsight.api import ncu_options, params_from_assignments
    from flashsight.api import profile as profile_one
    from flashsight.outputs.terminal import print_job

    options = ncu_options(ncu_set, ncu_sections, ncu_metrics)
    with console.status(f"{tool}: {workload}"):
        outcome, out = profile_one(workload, params_from_assignments(workload, params), tool, out,
                                   timeout_s=timeout_s, options=options, nvtx_includes=nvtx_includes)
    print_job(outcome, out, console)
    for warning in outcome.warnings:
        click.echo(f"flashsight: warning: {warning}", err=True)


# --------------------------------------------------------------------------------------------- parse


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for the tables; its earlier tables are replaced as a whole.")
@click.option("--format", "formats", multiple=True, type=click.Choice(["parquet", "csv", "json", "jsonl"]),
              default=("parquet",), show_default=True,
              help="Table file format (json: an array of records, jsonl: JSON Lines); repeat for several.")
def parse(inputs: tuple[Path, ...], out: Path, formats: tuple[str, ...]) -> None:
    """Turn .sqlite / .nsys-rep / .qdstrm / .ncu-rep / ncu CSV files into the canonical tables."""
    from flashsight.api import parse_into
    from flashsight.outputs.terminal import print_parse

    outcome = parse_into(list(inputs), out, tuple(dict.fromkeys(formats)))
    print_parse(outcome, out, console)
    for note in outcome.notes:
        if note.level == "warning":
            click.echo(f"flashsight: warning: {note}", err=True)
    for path, reason in outcome.failures.items():
        reason = _one_line(reason)
        click.echo(f"flashsight: error: {reason}" if path in reason else f"flashsight: error: {path}: {reason}",
                   err=True)
    if outcome.failures:
        if len(inputs) > 1:
            click.echo(f"flashsight: error: {len(outcome.failures)} of {len(inputs)} inputs failed: nothing "
                       f"written to {out}", err=True)
        sys.exit(1)


# --------------------------------------------------------------------------------------------- stalls


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--kernel", "kernel_regex", metavar="REGEX", help="Only kernels whose name or NVTX range matches.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1, 30), help="Stall reasons per kernel.")
def stalls(target: Path, kernel_regex: str | None, top: int) -> None:
    """Warp-stall report: a sweep's RUN_DIR by workload, each kernel's top reasons across the configs; a folder of
    parsed tables or *.ncu-rep, or a .ncu-rep / ncu CSV FILE, kernel by kernel."""
    import re

    from flashsight.api import stall_tables
    from flashsight.errors import InputError, ParamError
    from flashsight.outputs.stalls_report import render_stall_grid, render_stalls

    if kernel_regex:
        try:
            re.compile(kernel_regex)
        except re.error as exc:
            raise ParamError(f"--kernel {kernel_regex!r}: not a regular expression ({exc})") from None
    shown = 0
    for item in stall_tables(target):
        if item.labels is not None:
            shown += render_stall_grid(item.tables, item.labels, console, kernel_regex=kernel_regex, top=top)
        else:
            shown += render_stalls(item.tables, console, kernel_regex=kernel_regex, top=top, title=item.label)
    if kernel_regex and shown == 0:
        raise InputError(f"--kernel {kernel_regex!r}: no profiled kernel in {target} matches")


# --------------------------------------------------------------------------------------------- report


@main.command()
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Folder for report.md, report.html and figures/ "
              "(default RUN_DIR/report; with --sample, runs/sample-report).")
@click.option("--baseline", type=click.Path(path_type=Path), help="An earlier run: adds what changed against it.")
@click.option("--sample", is_flag=True, help="Report on the real H200 run shipped with flashsight (no GPU needed).")
def report(run_dir: Path | None, out: Path | None, baseline: Path | None, sample: bool) -> None:
    """Write the morning report of RUN_DIR: report.md (GitHub Markdown, PNG figures) and report.html (one file)."""
    from flashsight.api import load, sample as sample_run

    if sample == (run_dir is not None):
        raise click.UsageError("give a RUN_DIR or --sample (one of them)")
    run = sample_run() if sample else load(run_dir)
    written = run.report(out if out is not None or not sample else Path("runs") / "sample-report", baseline=baseline)
    console.print(f"report: {written['markdown']}  {written['html']}", soft_wrap=True)


# --------------------------------------------------------------------------------------------- export


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--perfetto", is_flag=True, help="Chrome trace-event JSON for ui.perfetto.dev / chrome://tracing.")
@click.option("--out", type=click.Path(path_type=Path), help="Output file (default RUN_DIR/trace.json.gz).")
def export(run_dir: Path, perfetto: bool, out: Path | None) -> None:
    """Export the measured ranges of RUN_DIR: --perfetto writes kernels on stream tracks, NVTX ranges on thread
    tracks, ncu metrics as event arguments."""
    from flashsight.api import export_perfetto

    if not perfetto:
        raise click.UsageError("choose a format: --perfetto")
    written, events = export_perfetto(run_dir, out)
    console.print(f"perfetto trace: {written} ({events:,} events)", soft_wrap=True)


# --------------------------------------------------------------------------------------------- compare


@main.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--threshold", "threshold_pct", type=click.FloatRange(min=0), default=5.0, show_default=True,
              metavar="PCT", help="Smallest change of a median that counts as regressed or improved.")
@click.option("--noise-floor", "floor_pct", type=click.FloatRange(min=0), default=None, metavar="PCT",
              help="Run-to-run noise floor (default: estimated from repeats in the runs, else 2%).")
@click.option("--json", "as_json", is_flag=True, help="Write {\"rows\": [...]} as JSON.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Write an asv-style Markdown table (PR comment).")
@click.option("--all", "all_rows", is_flag=True, help="Terminal: show unchanged rows too.")
@click.option("--allow-mismatch", is_flag=True, help="Compare runs of different GPU/driver/versions; list them.")
def compare(base: Path, new: Path, threshold_pct: float, floor_pct: float | None, as_json: bool, as_markdown: bool,
            all_rows: bool, allow_mismatch: bool) -> None:
    """Per config and kernel, what changed from run BASE to run NEW: regressed / improved / unchanged /
    inconclusive. Exit 0 when nothing regressed, 1 when something did, 2 on error or runs not comparable."""
    from flashsight.api import compare_runs, load, regressed
    from flashsight.outputs.compare_view import compare_json, compare_markdown, print_compare

    if as_json and as_markdown:
        raise click.UsageError("give --json or --markdown, not both")
    frame = compare_runs(load(base), load(new), threshold_pct=threshold_pct, floor_pct=floor_pct,
                         allow_mismatch=allow_mismatch)
    if as_json:
        click.echo(json.dumps(compare_json(frame), indent=2))
    elif as_markdown:
        click.echo(compare_markdown(frame), nl=False)
    else:
        print_compare(frame, console, all_rows=all_rows)
    sys.exit(1 if regressed(frame) else 0)


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
@click.option("--min-free-gb", type=FiniteFloat(min=0), default=None,
              help="Free disk space required before each job (default: the plan's, else 2).")
@click.option("--retry-failed", is_flag=True, help="With --resume: run failed and timed-out jobs again.")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default=None,
              help="Where jobs run: this machine (default) or Slurm tasks (a resume keeps the sweep's own).")
@click.option("--partition", default=None, help="Slurm: the partition (default: the cluster's).")
@click.option("--gpus-per-task", type=click.IntRange(min=0), default=None, help="Slurm: GPUs per task (default 1).")
@click.option("--cpus-per-task", type=click.IntRange(min=1), default=None, help="Slurm: CPUs per task.")
@click.option("--time", "time_limit", default=None, metavar="[D-]H:M:S|MIN",
              help="Slurm: each task's time limit (default: its jobs' timeouts added up, plus 5 minutes).")
@click.option("--array-parallelism", type=click.IntRange(min=1), default=None,
              help="Slurm: at most this many tasks at once.")
@click.option("--sbatch", "sbatch_options", multiple=True, metavar="NAME[=VALUE]",
              help="Slurm: another sbatch option (e.g. account=kern, qos=high, exclusive); repeat for several.")
@click.option("--max-jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Accept a plan of up to N jobs (default 10,000: a bigger grid is usually a typo).")
def sweep(plan: Path | None, out: Path | None, resume: bool, dry_run: bool, gpus: str | None, mode: str | None,
          batch_size: int | None, min_free_gb: float | None, retry_failed: bool, executor: str | None,
          partition: str | None, gpus_per_task: int | None, cpus_per_task: int | None, time_limit: str | None,
          array_parallelism: int | None, sbatch_options: tuple[str, ...], max_jobs: int | None) -> None:
    """Run every job of PLAN (a TOML file; default: the study's grids for every workload), parsed and merged."""
    from flashsight.api import open_sweep, preview_sweep, sweep_ncu_costs
    from flashsight.outputs.sweep_view import SweepView, print_dry_run, summary_line

    if resume and out is None:
        raise click.UsageError("--resume needs --out DIR (the sweep to continue)")
    if dry_run:
        loaded, statuses, seconds, run_mode, size = preview_sweep(plan, out, resume=resume, mode=mode,
                                                                  batch_size=batch_size, max_jobs=max_jobs)
        print_dry_run(loaded.jobs, statuses, seconds, run_mode, size, console,
                      ncu_costs=sweep_ncu_costs(loaded.jobs, statuses))
        return
    sbatch = {}
    for item in sbatch_options:  # NAME=VALUE, or NAME alone for a flag (exclusive)
        name, sep, value = item.partition("=")
        name = name.strip().lstrip("-")
        if not name or (sep and not value):
            from flashsight.errors import ParamError

            raise ParamError(f"--sbatch {item!r}: expected NAME=VALUE (e.g. account=kern) or a flag's NAME")
        sbatch[name] = value if sep else True
    session = open_sweep(plan, out, resume=resume, retry_failed=retry_failed, gpus=gpus, mode=mode,
                         batch_size=batch_size, min_free_gb=min_free_gb, executor=executor, partition=partition,
                         gpus_per_task=gpus_per_task, cpus_per_task=cpus_per_task, time_limit=time_limit,
                         array_parallelism=array_parallelism, sbatch=sbatch or None, max_jobs=max_jobs)
    view = SweepView(console, session.store.counts, len(session.plan.jobs), f"sweep {session.plan.name}")
    if resume:
        sync = session.sync
        kept = f", {sync['kept']} still with Slurm tasks" if sync.get("kept") else ""
        console.print(f"[dim]resuming {session.out}: {sync['done']} of {sync['jobs']} jobs already finished, "
                      f"{sync['new']} new, {sync['recovered']} adopted, {sync['requeued']} to run again{kept}[/dim]")
    summary = session.run(view.wait, on_event=view.on_event)
    click.echo(summary_line(session.plan.name, summary, session.out))  # one line, never wrapped: scripts grep it
    if session.report:
        click.echo(f"report: {session.report['html']}")
    else:
        click.echo(f"flashsight: warning: no report ({session.report_error})", err=True)
    sys.exit(summary.exit_code)
