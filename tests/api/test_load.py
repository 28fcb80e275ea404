"""flashsight.load on a run directory written by flashsight 0.1 (tests/data/runs/v01_cpu), on the same plan run
now, on single captures and on a list; config_id is the same in both runs."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import flashsight
from flashsight.cli import main
from flashsight.schema.config import config_id
from flashsight.schema.tables import validate
from tests import DATA
from tests.ncu_data import ncu_file

V01 = DATA / "runs" / "v01_cpu"
CPU_SQLITE = DATA / "nsys" / "cpu_2022" / "cpu.sqlite"


@pytest.fixture(scope="module")
def run_now(nsys, tmp_path_factory):
    """V01's plan (cpu_nvtx:step under none and nsys), run by this flashsight."""
    out = tmp_path_factory.mktemp("run_now") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(DATA / "nsys")  # the workload module is imported from the sweep's directory
        result = CliRunner().invoke(main, ["sweep", str(V01 / "plan.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_a_01_run_loads_with_config_ids():
    run = flashsight.load(V01)
    assert run.kind == "sweep" and "config_id" not in pq.read_schema(V01 / "jobs.parquet").names
    jobs = run.jobs
    assert len(jobs) == 4 and set(jobs["tool"]) == {"none", "nsys"} and set(jobs["status"]) == {"succeeded"}
    for row in jobs.itertuples():
        assert row.config_id == config_id("cpu_nvtx:step", json.loads(row.params_json))
    assert jobs.groupby("config_id")["tool"].apply(sorted).tolist() == [["none", "nsys"]] * 2  # one id joins both
    assert sorted(run.configs["n"]) == [1, 3] and list(run.configs["label"]) == ["a", "a"]
    assert run.table("gpu_kernels").shape == (0, 36)  # a CPU-only capture: no kernels, every column
    ranges = run.table("nvtx_ranges")
    assert ranges.shape == (6, 27)
    by_job = dict(zip(jobs["job_id"], jobs["config_id"]))
    assert (ranges["config_id"] == ranges["job_id"].astype(str).map(by_job)).all()
    # each nsys job's capture: its `step a` range (domain flashsight.cpu) and n `inner` ranges
    inner = ranges[ranges["name"] == "inner"].groupby("n").size().to_dict()
    assert inner == {1: 1, 3: 3}
    assert ranges.loc[ranges["name"] == "step a", "domain"].tolist() == ["flashsight.cpu"] * 2


def test_config_ids_and_job_ids_of_a_01_run_equal_those_of_the_same_plan_run_now(run_now):
    then, now = flashsight.load(V01).jobs, flashsight.load(run_now).jobs
    key = ["tool", "n", "label"]
    then, now = then.sort_values(key).reset_index(drop=True), now.sort_values(key).reset_index(drop=True)
    assert now["config_id"].tolist() == then["config_id"].tolist()
    assert now["job_id"].tolist() == then["job_id"].tolist()  # so --resume over a 0.1 run reuses its jobs


def test_the_same_plan_run_now_writes_tables_that_validate(run_now):
    names = sorted(p.stem for p in run_now.glob("*.parquet"))
    assert names == ["cuda_api", "devices", "gpu_kernels", "gpu_memops", "job_conditions", "jobs",
                     "kernel_observations", "nvtx_ranges", "workload_results"]
    for name in names:
        validate(pq.read_table(run_now / f"{name}.parquet"), name)
    for job_dir in (run_now / "jobs").iterdir():
        for path in job_dir.glob("*.parquet"):
            validate(pq.read_table(path), path.stem)
    now = flashsight.load(run_now)
    assert now.table("nvtx_ranges")[["job_id", "name", "domain"]].astype(str).values.tolist() == \
        flashsight.load(V01).table("nvtx_ranges")[["job_id", "name", "domain"]].astype(str).values.tolist()


def test_load_single_captures_and_a_list():
    report = flashsight.load(ncu_file("dec.ncu-rep"))
    assert report.kind == "captures" and report.table("ncu_kernels").shape[0] == 2
    assert report.jobs.empty
    capture = flashsight.load(CPU_SQLITE)
    assert capture.table("gpu_kernels").shape[0] == 0 and capture.table("nvtx_ranges").shape[0] == 12
    both = flashsight.load([ncu_file("dec.ncu-rep"), CPU_SQLITE, V01])
    assert both.kind == "runs"
    assert both.table("nvtx_ranges").shape[0] == 12 + 6 and both.table("ncu_kernels").shape[0] == 2
    assert set(both.table("nvtx_ranges")["run"]) == {str(CPU_SQLITE), str(V01)}
    assert len(both.jobs) == 4
