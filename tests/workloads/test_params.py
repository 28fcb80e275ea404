"""Parameter validation of the built-in workloads: defaults, study grids, and one clear line for bad input."""

import json

import pytest
from click.testing import CliRunner

from flashsight.cli import main
from flashsight.errors import ParamError
from flashsight.workloads import BUILTIN, get_workload


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_defaults_and_every_study_grid_value_are_valid(name):
    workload = BUILTIN[name]
    cfg = workload.resolve({})
    assert list(cfg) == workload.spec.names()
    for param, values in workload.study_grid.items():
        assert param in cfg, f"{name}: grid names unknown parameter {param}"
        for value in values:
            workload.resolve({param: value})


def test_the_study_grids_are_the_issues():
    assert BUILTIN["prefill"].study_grid == {"batch": [1, 32], "seq_len": [512, 1024, 2048, 4096]}
    decode = BUILTIN["decode"].study_grid
    assert decode["batch"][0] == 1 and decode["batch"][-1] == 128 and decode["kv_len"] == [2048]
    assert decode["num_kv_heads"] == [8, 32]  # GQA 32/8 against MHA 32/32
    assert BUILTIN["rope"].study_grid["tokens"][0] == 512 and BUILTIN["rope"].study_grid["tokens"][-1] == 65536
    assert BUILTIN["jit"].study_grid == {"family": ["norm", "rope", "decode", "prefill"]}


@pytest.mark.parametrize("workload, given, message", [
    ("prefill", {"num_kv_heads": 6}, "prefill: num_qo_heads=32 is not divisible by num_kv_heads=6"),
    ("prefill", {"num_qo_heads": "28", "num_kv_heads": "8"},
     "prefill: num_qo_heads=28 is not divisible by num_kv_heads=8"),
    ("prefill", {"backend": "fa4"}, "parameter backend='fa4': choose one of fa2, fa3, auto"),
    ("prefill", {"head_dim": 96}, "parameter head_dim=96: choose one of 64, 128, 256"),
    ("prefill", {"seq_len": "long"}, "parameter seq_len='long': expected int"),
    ("prefill", {"causal": "maybe"}, "parameter causal='maybe': expected true or false"),
    ("prefill", {"seqlen": 512}, "prefill: unknown parameter 'seqlen' (known: batch, seq_len, num_qo_heads, "
                                 "num_kv_heads, head_dim, page_size, causal, backend, kv_storage, dtype)"),
    ("decode", {"num_kv_heads": 3}, "decode: num_qo_heads=32 is not divisible by num_kv_heads=3"),
    ("decode", {"num_kv_heads": 2},
     "decode: GQA group size 16 (num_qo_heads / num_kv_heads) needs use_tensor_cores=true; "
     "the CUDA-core kernel supports 1, 2, 3, 4, 8"),
    ("decode", {"batch": 0}, "parameter batch=0: must be >= 1"),
    ("decode", {"pdl": "maybe"}, "parameter pdl='maybe': choose one of auto, on, off"),
    ("decode", {"page_size": 1.5}, "parameter page_size=1.5: expected int"),
    ("rope", {"tokens": 1000, "batch": 3}, "rope: tokens=1000 is not divisible by batch=3"),
    ("rope", {"variant": "apply_rope_cos"}, "parameter variant='apply_rope_cos': choose one of apply_rope, "
     "apply_rope_inplace, apply_rope_pos_ids, apply_rope_pos_ids_inplace, apply_rope_with_cos_sin_cache, "
     "apply_rope_with_cos_sin_cache_inplace, apply_llama31_rope, apply_llama31_rope_inplace"),
    ("jit", {"family": "gemm"}, "parameter family='gemm': choose one of norm, rope, decode, prefill, all"),
])
def test_invalid_parameters_name_the_problem(workload, given, message):
    with pytest.raises(ParamError) as exc:
        get_workload(workload).resolve(given)
    assert str(exc.value) == message


def test_tensor_cores_lift_the_decode_group_limit():
    cfg = get_workload("decode").resolve({"num_kv_heads": "2", "use_tensor_cores": "true"})
    assert cfg["num_kv_heads"] == 2 and cfg["use_tensor_cores"] is True


def test_memory_footprint_is_known_before_allocating():
    # batch 32 x seq 4096, GQA fp16: q + o 2 GiB, K + V 512 MiB, workspace 256 MiB
    cfg = get_workload("prefill").resolve({"batch": 32, "seq_len": 4096})
    assert get_workload("prefill").footprint_bytes(cfg) == 2 * 2**30 + 512 * 2**20 + 256 * 2**20


def test_cli_rejects_bad_params_in_one_line_before_any_gpu_work(tmp_path):
    for args, message in [
        (["run", "prefill", "-p", "num_kv_heads=6", "--out", str(tmp_path / "o")],
         "flashsight: error: prefill: num_qo_heads=32 is not divisible by num_kv_heads=6\n"),
        (["run", "decode", "-p", "heads=8", "--out", str(tmp_path / "o")],
         "flashsight: error: decode: unknown parameter 'heads' (known: batch, kv_len, "),
        (["profile", "rope", "-p", "tokens=x", "--tool", "nsys", "--out", str(tmp_path / "o")],
         "flashsight: error: parameter tokens='x': expected int\n"),
    ]:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(message) and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "o").exists()


def test_workloads_json_lists_every_workload_with_kind_and_grid():
    described = json.loads(CliRunner().invoke(main, ["workloads", "--json"]).output)
    by_name = {w["name"]: w for w in described}
    assert set(by_name) == {"prefill", "decode", "rmsnorm", "rope", "jit"}
    assert by_name["jit"]["kind"] == "jit" and by_name["decode"]["kind"] == "kernel"
    backend = next(p for p in by_name["prefill"]["params"] if p["name"] == "backend")
    assert backend == {"name": "backend", "type": "str", "default": "fa2",
                       "help": "FlashInfer backend (auto: fa3 on Hopper)", "choices": ["fa2", "fa3", "auto"]}
