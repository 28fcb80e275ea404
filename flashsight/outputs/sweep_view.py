"""Terminal view of a sweep: the --dry-run listing, a live progress bar with one line per finished job, the summary."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from flashsight.outputs.terminal import print_wide


_MARKS = {"succeeded": "[green]✓[/green]", "failed": "[red]✗[/red]", "timed_out": "[red]⏱[/red]",
          "retry": "[yellow]↻[/yellow]", "fallback": "[yellow]⇢[/yellow]", "interrupted": "[yellow]■[/yellow]"}


def human(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


MAX_SHOWN_CHARS = 80  # of one value in a progress line or the dry-run table (a job's params can be long)


def describe_params(params: dict | str) -> str:
    """'batch=8 dtype=float16', values as the workload gets them: a string that reads as another type is
    quoted ("1" is not 1), and a long value is cut (the view must never stall wrapping a huge line)."""
    params = json.loads(params) if isinstance(params, str) else params
    return " ".join(f"{k}={_shown(v)}" for k, v in params.items())


def _shown(value) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value) if _ambiguous(value) else value
    else:
        text = str(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = f"{text[:MAX_SHOWN_CHARS - 20]}…({len(text):,} chars)"
    return text


def _ambiguous(text: str) -> bool:
    if not text or text != text.strip() or " " in text:
        return True
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def print_dry_run(jobs: list, statuses: dict[str, str], estimate_s: float, mode: str, batch_size: int,
                  console: Console, ncu_costs=None) -> None:
    table = Table("#", "job", "workload", "tool", "params", "status", box=None)
    for job in jobs:
        workload = Path(job.workload).name if job.workload.endswith(".py") else job.workload
        table.add_row(str(job.seq), job.job_id, workload, job.tool, escape(describe_params(job.params)),
                      statuses.get(job.job_id, "pending"))
    print_wide(console, table)
    todo = sum(1 for j in jobs if statuses.get(j.job_id, "pending") not in ("succeeded", "failed", "timed_out"))
    how = f"{mode}, up to {batch_size} configs per process" if mode == "batched" else "one process per job"
    console.print(f"{len(jobs)} jobs, {todo} to run ({how}); estimated duration ~{human(estimate_s)}")
    if ncu_costs is not None and len(ncu_costs):
        costs = Table("ncu replay (H200 passes)", "configs", "kernels", "passes", "replay s", box=None)
        for row in ncu_costs.itertuples(index=False):
            costs.add_row(escape(row.what), row.configs, row.kernels, row.passes, "" if row.replay_s is None or row.replay_s != row.replay_s
                          else f"{row.replay_s:g}")
        console.print(costs)
        pass_ms = ncu_costs.attrs.get("pass_ms", {})
        measured = ", ".join(f"{ms} ms {'under --set ' if name == 'full' else ''}{name}" for name, ms in pass_ms.items())
        console.print("[dim]ncu replays each kernel once per pass: kernels x passes x seconds per pass "
                      f"({measured}, measured on the H200); sections share passes, "
                      "so the sections alone add up to more than their set[/dim]")


class SweepView:
    """Collects workers' events (any thread) and shows them from the main thread."""

    def __init__(self, console: Console, counts, total: int, title: str):
        self.console, self.counts, self.total, self.title = console, counts, total, title
        self.events: queue.Queue = queue.Queue()

    def on_event(self, kind: str, job: dict, detail: str | None) -> None:
        self.events.put((kind, job, detail, time.monotonic()))

    def _line(self, kind: str, job: dict, detail: str | None) -> str | None:
        if kind == "started":
            return None
        workload = Path(job["workload"]).name if job["workload"].endswith(".py") else job["workload"]
        text = (f"{_MARKS.get(kind, kind)} {escape(workload)} [bold]{job['tool']:<4}[/bold] "
                f"{escape(describe_params(job['params']))} [dim]{job['job_id']}[/dim]")
        if kind == "fallback":
            text += " — reruns in its own process"
        if detail and kind != "succeeded":
            text += f"  [dim]{escape(detail[:300])}[/dim]"
        return text

    def wait(self, workers) -> None:
        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                   TextColumn("{task.fields[done]} done · {task.fields[failed]} failed · {task.fields[left]} left"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(self.title, total=self.total, done=0, failed=0, left=self.total)
            while True:
                alive = any(w.is_alive() for w in workers)
                while not self.events.empty():
                    line = self._line(*self.events.get()[:3])
                    if line:  # one line per job, however long: logs are grepped
                        progress.console.print(line, soft_wrap=True)
                counts = self.counts()
                failed = counts["failed"] + counts["timed_out"]
                progress.update(task, completed=counts["succeeded"] + failed, done=counts["succeeded"],
                                failed=failed, left=counts["pending"] + counts["running"])
                if not alive:
                    break
                time.sleep(0.25)


def summary_line(name: str, summary, out: Path) -> str:
    c = summary.counts
    total = sum(c.values())
    parts = [f"{c['succeeded']} succeeded", f"{c['failed']} failed", f"{c['timed_out']} timed out"]
    if c["pending"] or c["running"]:
        parts.append(f"{c['pending'] + c['running']} not run")
    text = f"sweep {name}: {total} jobs, {', '.join(parts)} in {human(summary.elapsed_s)} -> {out}"
    if summary.merged:
        text += f" ({len(summary.merged)} merged tables)"
    if summary.stopped:
        text += f"; stopped: {summary.stopped}"
    return text
