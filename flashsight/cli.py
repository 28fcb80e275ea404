"""The command line: parse arguments, call the library, print. No logic of its own.

Every user-facing failure is a FlashsightError, printed as one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import json
import sys
import time
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


def _default_out(kind: str, workload: str) -> Path:
    stem = Path(workload).stem.replace(":", "_").replace(".", "_") or "job"
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{stem}"


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
    """Run WORKLOAD once without a profiler: its own timing, rates and correctness."""
    from flashsight.environment import probe
    from flashsight.outputs.terminal import print_result
    from flashsight.outputs.writers import write_json
    from flashsight.workloads import get_workload
    from flashsight.workloads.harness import run_workload
    from flashsight.workloads.params import parse_assignments

    target = get_workload(workload)
    given = parse_assignments(params)
    target.resolve(given)  # bad parameters fail before any output directory exists
    out = out or _default_out("run", workload)
    result = run_workload(target, given, job_dir=out, warmup=warmup, iters=iters)
    write_json(probe(), out / "env.json")
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_result(result, console)
        console.print(f"[dim]result: {out / 'result.json'}[/dim]")


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
def profile(workload: str, params: tuple[str, ...], tool: str, out: Path | None, timeout_s: float,
            ncu_set: str | None, ncu_sections: tuple[str, ...], ncu_metrics: tuple[str, ...]) -> None:
    """Run one WORKLOAD config under nsys or ncu, keep the artifacts and parse them into tables."""
    from flashsight.environment import probe
    from flashsight.orchestrator.job import NcuOptions, raise_for, run_job
    from flashsight.orchestrator.targets import resolve_target
    from flashsight.outputs.terminal import print_job
    from flashsight.outputs.writers import write_json
    from flashsight.workloads.params import parse_assignments

    target = resolve_target(workload, parse_assignments(params))
    out = out or _default_out(tool, workload)
    out.mkdir(parents=True, exist_ok=True)
    write_json(probe(), out / "env.json")
    ncu = NcuOptions(set=ncu_set, sections=ncu_sections, metrics=ncu_metrics)
    with console.status(f"{tool}: {target.measured_range or workload}"):
        outcome = run_job(target, tool, out, timeout_s=timeout_s, ncu=ncu)
    raise_for(outcome, out)
    print_job(outcome, out, console)


# --------------------------------------------------------------------------------------------- parse


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the tables.")
@click.option("--format", "formats", multiple=True, type=click.Choice(["parquet", "csv", "json"]),
              default=("parquet",), show_default=True, help="Table file format; repeat for several.")
def parse(inputs: tuple[Path, ...], out: Path, formats: tuple[str, ...]) -> None:
    """Turn .sqlite / .nsys-rep / .qdstrm / .ncu-rep / ncu CSV files into the canonical tables."""
    from flashsight.outputs.writers import write_tables
    from flashsight.parsers import read_inputs

    tables, failures = read_inputs(list(inputs))
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
