"""Result records written on an H100: their FLOPs/bytes are the documented formulas, their rates follow."""

import json

import pytest

from flashsight.workloads.decode import decode_bytes, decode_flops
from flashsight.workloads.rope import rope_atol, rope_bytes, rope_flops
from tests import DATA as TEST_DATA

DATA = TEST_DATA / "workloads" / "results_h100"


def load(name):
    return json.loads((DATA / f"{name}.json").read_text())


def test_decode_record_matches_the_formulas_and_its_own_timing():
    r = load("24-decode")
    p, rates = r["params"], r["rates"]
    assert rates["flops"] == decode_flops(p["batch"], p["kv_len"], p["num_qo_heads"], p["head_dim"]) == 1_073_741_824
    assert rates["bytes"] == decode_bytes(p["batch"], p["kv_len"], p["num_qo_heads"], p["num_kv_heads"],
                                          p["head_dim"], 2) == 268_959_744
    seconds = r["timing"]["median_ms"] / 1e3
    assert rates["achieved_gbps"] == pytest.approx(rates["bytes"] / seconds / 1e9, rel=1e-12)
    assert rates["tokens_per_s"] == pytest.approx(32 / seconds, rel=1e-12)
    assert rates["achieved_gbps"] == pytest.approx(2656.44, abs=0.01)  # 79% of the H100's 3.35 TB/s
    assert r["correctness"]["ok"] and r["correctness"]["requests_checked"] == 16


@pytest.mark.parametrize("name, variant, cached", [("12-rope", "apply_rope_pos_ids_inplace", False),
                                                   ("20-rope", "apply_llama31_rope_inplace", False)])
def test_rope_records_match_the_formulas_and_stay_inside_the_phase_tolerance(name, variant, cached):
    r = load(name)
    p, rates = r["params"], r["rates"]
    assert p["tokens"] == 65536 and p["variant"] == variant
    assert rates["flops"] == rope_flops(65536, p["heads"], p["kv_heads"], p["head_dim"])
    assert rates["bytes"] == rope_bytes(variant, 65536, p["heads"], p["kv_heads"], p["head_dim"], p["batch"], 2)
    check = r["correctness"]
    # the worst chunk is the last one (positions up to 65535), checked with the documented position-aware
    # tolerance; the correct kernel's error there (fp32 phase, fast sincos) is above the base atol of 0.01
    assert check["ok"] and check["max_position"] == 65535
    assert check["atol"] == rope_atol(1e-2, 65535, cached)
    assert 1e-2 < check["max_abs_err"] < check["atol"]


def test_cuda_graph_decode_records_name_what_was_captured():
    wrapper, plain = load("40-decode-graph"), load("46-decode-graph")
    assert wrapper["notes"]["wrapper"] == "CUDAGraphBatchDecodeWithPagedKVCacheWrapper"
    assert plain["notes"]["wrapper"] == "BatchDecodeWithPagedKVCacheWrapper"
    for r in (wrapper, plain):
        p = r["params"]
        assert p["cuda_graph"] is True and p["batch"] == 128
        assert r["rates"]["bytes"] == decode_bytes(128, 2048, 32, 8, 128, 2)
        assert r["rates"]["tokens_per_s"] == pytest.approx(128 / (r["timing"]["median_ms"] / 1e3), rel=1e-12)
        assert r["correctness"]["ok"] and "cuda_graph=true" in r["nvtx_range"]
    # on the H100 the graph wrapper's padded split-KV grid costs ~6% at batch 128 against the plain wrapper
    assert wrapper["timing"]["median_ms"] == pytest.approx(0.3884, abs=1e-4)
    assert plain["timing"]["median_ms"] == pytest.approx(0.3652, abs=1e-4)
