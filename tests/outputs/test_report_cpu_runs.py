"""Reports of real CPU sweeps (no GPU): failed jobs, a user's workloads, nsys jobs that saw only NVTX ranges.
Each report says what the run lacks instead of failing, and `flashsight sweep` writes it when it ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import flashsight
from tests.outputs.report_checks import check_html, check_markdown
from tests.orchestrator.sweep_support import FAULT, ROOT

DATA = Path(__file__).resolve().parents[1] / "data"
CPU_NVTX = DATA / "nsys" / "cpu_nvtx.py"
ECHO = DATA / "workloads" / "echo_params.py"
HAS_NSYS = shutil.which(os.environ.get("FLASHSIGHT_NSYS", "nsys")) is not None


def _plan(tmp: Path) -> Path:
    nsys_block = (f'[[jobs]]\nworkload = "{CPU_NVTX}"\ntools = ["nsys"]\nparams = {{ n = [1, 2] }}\n\n'
                  if HAS_NSYS else "")
    plan = tmp / "plan.toml"
    plan.write_text(f'[sweep]\nname = "cpu-user"\nmode = "process"\ntimeout_s = 120\nretries = 0\n\n{nsys_block}'
                    f'[[jobs]]\nworkload = "{ECHO}"\ntools = ["none"]\nparams = {{ x = [1, 2, 4] }}\n\n'
                    f'[[jobs]]\nworkload = "{FAULT}"\ntools = ["none"]\nparams = {{ behaviour = ["exit", "segv"] }}\n')
    return plan


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cpu_run")
    out = tmp / "run"
    done = subprocess.run([sys.executable, "-m", "flashsight", "sweep", str(_plan(tmp)), "--out", str(out)],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                          timeout=300)
    return out, done


def test_the_sweep_writes_its_report_and_says_where(cpu_run):
    out, done = cpu_run
    assert done.returncode == 1, done.stdout + done.stderr  # two jobs failed on purpose
    assert f"report: {out / 'report' / 'report.html'}" in done.stdout.splitlines()
    assert (out / "report" / "report.md").is_file() and (out / "report" / "report.html").is_file()
    check_markdown(out / "report" / "report.md")
    check_html(out / "report" / "report.html")


def test_failures_are_listed_with_their_log_tails(cpu_run):
    out, _ = cpu_run
    jobs = pd.read_parquet(out / "jobs.parquet")
    failed = jobs[jobs["status"] == "failed"]
    assert len(failed) == 2
    md = (out / "report" / "report.md").read_text()
    html = (out / "report" / "report.html").read_text()
    assert "*2 job(s) failed or timed out*" in md
    for row in failed.itertuples():
        assert f'<a id="job-{row.job_id}"></a>{row.job_id}' in md
        assert row.error in md  # "exit code 3: ..." and "killed by SIGSEGV: ..." as the store has them
        for line in row.log_tail.strip().splitlines()[-2:]:
            assert line in md and line in html.replace("&#x27;", "'").replace("&quot;", '"')
    assert "Error: the workload gave up" in md and "about to crash" in md


def test_user_workloads_get_sections_that_say_what_is_missing(cpu_run):
    out, _ = cpu_run
    md = (out / "report" / "report.md").read_text()
    assert "## User workload echo_params.py" in md and "## User workload fault.py" in md
    assert "For echo_params.py this run has no kernels, no NVTX ranges: no kernel rates" in md
    assert "No ncu kernels in this run: no counters, so no rates, roofline or stalls." in md
    assert "No kernel with FLOP counters in this run" in md  # roofline
    assert "> **Not in this run:** No nsys kernels in this run" in md  # timeline: CPU-only nsys sees no kernels
    assert "No rule found what it needs in this run" in md  # findings


@pytest.mark.skipif(not HAS_NSYS, reason="nsys not installed (CI installs it)")
def test_nsys_jobs_without_kernels_show_the_workloads_own_nvtx_ranges(cpu_run):
    out, _ = cpu_run
    run = flashsight.load(out)
    ranges = run.table("nvtx_ranges")
    md = (out / "report" / "report.md").read_text()
    assert "## User workload cpu_nvtx.py" in md
    # cpu_nvtx.py pushes outer x2 > inner x2 each, and helper_work x3 on a second thread (tests/data/nsys)
    nsys_configs = run.configs[run.configs["workload"] == str(CPU_NVTX)]
    assert sorted(nsys_configs["n"].astype(int)) == [1, 2]
    for cid, n in zip(nsys_configs["config_id"], nsys_configs["n"]):
        label = int(n)
        mine = ranges[ranges["config_id"] == cid]
        assert (mine["name"] == "inner").sum() == 4 and (mine["name"] == "outer").sum() == 2
        assert f"| n={label} | inner | 4 |" in md and f"| n={label} | outer | 2 |" in md
        assert f"| n={label} | flashsight.cpu:helper_work | 3 |" in md


def test_perfetto_export_of_a_run_without_kernels_is_one_error_line(cpu_run):
    out, _ = cpu_run
    done = subprocess.run([sys.executable, "-m", "flashsight", "export", str(out), "--perfetto"], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    # with nsys: a gpu_kernels table without rows (CPU-only NVTX); without: no such table
    assert done.returncode != 0 and not (out / "trace.json.gz").exists()
    assert done.stderr.strip().splitlines() == [f"flashsight: error: {out}: no GPU kernels in its nsys tables "
                                                "(gpu_kernels): nothing to export"]


def test_a_report_error_is_one_warning_and_never_fails_the_sweep(tmp_path, monkeypatch):
    from flashsight import api
    from flashsight.outputs import report as report_pkg

    def broken(*args, **kwargs):
        raise RuntimeError("figure backend exploded")

    monkeypatch.setattr(report_pkg, "write_report", broken)
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[sweep]\nname = "one"\nmode = "process"\n[[jobs]]\nworkload = "{ECHO}"\ntools = ["none"]\n'
                    'params = { x = [3] }\n')
    session = api.open_sweep(plan, tmp_path / "run")
    summary = session.run(lambda workers: [w.join() for w in workers])
    assert summary.exit_code == 0 and summary.counts["succeeded"] == 1
    assert session.report is None and session.report_error == "RuntimeError: figure backend exploded"
    assert not (tmp_path / "run" / "report" / "report.html").exists()


def test_resume_writes_the_report_again(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[sweep]\nname = "again"\nmode = "process"\n[[jobs]]\nworkload = "{ECHO}"\ntools = ["none"]\n'
                    'params = { x = [5] }\n')
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.run([sys.executable, "-m", "flashsight", "sweep", str(plan), "--out", str(out)], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    shutil.rmtree(out / "report")
    again = subprocess.run([sys.executable, "-m", "flashsight", "sweep", "--out", str(out), "--resume"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "jobs already finished" in again.stdout and "resuming" in again.stdout
    assert f"report: {out / 'report' / 'report.html'}" in again.stdout.splitlines()
    assert "| echo_params.py | none |" in (out / "report" / "report.md").read_text()  # its result.json row


def test_report_of_the_shipped_sample_works_without_a_run_dir(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from flashsight.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["report", "--sample"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "runs" / "sample-report"
    assert (written / "report.html").is_file() and (written / "figures" / "roofline.png").is_file()
    md = (written / "report.md").read_text()
    assert "NVIDIA H200" in md and "| total | 104 | 104 |" in md
    # the sample is the default study swept on the H200: its jobs are the ones that sweep's log ticked off
    log = (ROOT / "docs" / "evidence" / "device" / "study_sweep.log").read_text()
    ticked = {line.split()[-1] for line in log.splitlines() if line.startswith("✓ ")}
    sample = flashsight.load(flashsight.api.SAMPLE_DIR)
    assert set(sample.jobs["job_id"]) == ticked and len(ticked) == 104
    assert sample.table("kernel_observations")["config_id"].nunique() == 50  # 54 configs, 4 of them JIT (no kernel)
    both = CliRunner().invoke(main, ["report", str(tmp_path), "--sample"])
    assert both.exit_code != 0 and "give a RUN_DIR or --sample" in both.output
