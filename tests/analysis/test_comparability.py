"""The facts two runs must share before compare judges them, read from the committed H200 run."""

from __future__ import annotations

import json

import flashsight
from flashsight.analysis.comparability import conditions, mismatches
from flashsight.api import _compare_inputs
from tests.compare_support import H100_ENV, RUN_A


def _facts(run, env=None):
    return conditions(env if env is not None else run.env, run.jobs, _compare_inputs(run))


def test_the_facts_of_a_real_run_come_from_its_env_jobs_and_tables():
    run = flashsight.load(RUN_A)
    facts = _facts(run)
    ncu = facts.pop("ncu_options")
    assert facts == {"GPU": "NVIDIA H200", "driver": "580.159.04", "SM clock max (MHz)": "1980",
                     "memory clock max (MHz)": "3201", "power limit (W)": "700.0", "nsys": "2025.3.1.0",
                     "ncu": "2025.3.1.0", "FlashInfer": "0.5.3", "torch": "2.11.0+cu130",
                     "ncu clock control": "base", "ncu cache control": "all",
                     "dtype": {w: {"float16"} for w in ("decode", "prefill", "rmsnorm", "rope")}}
    assert len(ncu) == 13 and set(ncu.values()) == {"{}"}  # every config's ncu job: the lean default sections


def test_unknown_facts_are_not_mismatches_and_known_different_ones_are():
    run = flashsight.load(RUN_A)
    assert mismatches(_facts(run), _facts(run, env={})) == []  # no env.json: nothing to compare
    h100 = json.loads(H100_ENV.read_text())
    assert mismatches(_facts(run), _facts(run, env=h100)) == [
        "GPU NVIDIA H200 (base) vs NVIDIA H100 80GB HBM3 (new)", "memory clock max (MHz) 3201 (base) vs 2619 (new)"]
    other_torch = json.loads(json.dumps(run.env))
    other_torch["torch"]["version"] = "2.9.1+cu128"
    other_torch["flashinfer"]["version"] = "0.5.2"
    assert mismatches(_facts(run), _facts(run, env=other_torch)) == [
        "FlashInfer 0.5.3 (base) vs 0.5.2 (new)", "torch 2.11.0+cu130 (base) vs 2.9.1+cu128 (new)"]
