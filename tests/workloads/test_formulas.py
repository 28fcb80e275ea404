"""Analytic FLOPs and bytes of the attention and RoPE workloads against numbers worked out by hand."""

import math

import pytest

from flashsight.workloads.attention_ref import checked_requests, paged_cache_bytes, pages_for
from flashsight.workloads.decode import decode_bytes, decode_flops
from flashsight.workloads.prefill import prefill_bytes, prefill_flops
from flashsight.workloads.rope import rope_atol, rope_bytes, rope_flops, rope_frequencies


def test_prefill_flops_causal_halves_the_full_count():
    # seq 4096, 32 heads, head_dim 128: 4096² pairs x 32 heads x (2·128 for q·k + 2·128 for p·v)
    full = 4096 * 4096 * 32 * 128 * 4
    assert full == 274_877_906_944
    assert prefill_flops(1, 4096, 4096, 32, 128, causal=False) == full
    assert prefill_flops(1, 4096, 4096, 32, 128, causal=True) == 137_438_953_472
    assert prefill_flops(32, 512, 512, 32, 128, causal=False) == 32 * 512 * 512 * 32 * 128 * 4


def test_prefill_bytes_count_q_o_k_v_once():
    # Q and O: 4096 x 32 x 128 x 2 B = 32 MiB each; K and V with 8 KV heads: 8 MiB each -> 80 MiB
    assert prefill_bytes(1, 4096, 4096, 32, 8, 128, 2) == 80 * 2**20 == 83_886_080
    # MHA: K and V as large as Q -> 128 MiB
    assert prefill_bytes(1, 4096, 4096, 32, 32, 128, 2) == 128 * 2**20


def test_decode_counts_the_kv_cache_once_per_step():
    # batch 32 x kv 2048 x 8 KV heads x 128 x 2 B x (K and V) = 256 MiB; q and o: 32 x 32 x 128 x 2 B x 2
    assert decode_bytes(32, 2048, 32, 8, 128, 2) == 268_435_456 + 524_288 == 268_959_744
    assert decode_flops(32, 2048, 32, 128) == 4 * 32 * 32 * 2048 * 128 == 1_073_741_824
    # GQA and MHA do the same FLOPs; MHA moves 4x the KV bytes
    assert decode_bytes(1, 2048, 32, 32, 128, 2) == 1 * 2 * 128 * (2 * 2048 * 32 + 2 * 32) == 33_570_816


@pytest.mark.parametrize("variant, extra", [
    ("apply_rope_inplace", 12),  # indptr [2] + offsets [1], int32
    ("apply_llama31_rope", 12),
    ("apply_rope_pos_ids_inplace", 262_144),  # 65536 int32 positions
    ("apply_rope_with_cos_sin_cache", 262_144 + 33_554_432),  # + 65536 rows x 128 fp32
])
def test_rope_bytes_are_q_k_both_ways_plus_positions(variant, extra):
    qk = 2 * 65536 * (32 + 8) * 128 * 2
    assert qk == 1_342_177_280
    assert rope_bytes(variant, 65536, 32, 8, 128, 1, 2) == qk + extra


def test_rope_cache_rows_count_distinct_positions_only():
    # 4 sequences of 1024 tokens share positions 0..1023: 1024 cache rows of 64 fp32 values
    qk = 2 * 4096 * 16 * 64 * 2
    assert rope_bytes("apply_rope_with_cos_sin_cache_inplace", 4096, 8, 8, 64, 4, 2) == qk + 4 * 4096 + 1024 * 64 * 4


def test_rope_flops_are_three_per_rotated_element():
    assert rope_flops(65536, 32, 8, 128) == 3 * 65536 * 40 * 128 == 1_006_632_960


def test_rope_frequencies_standard_and_llama31():
    std = rope_frequencies(128, llama31=False)
    assert len(std) == 64
    assert std[0] == 1.0 and std[32] == pytest.approx(0.01)  # 1e4^(-64/128)
    llama = rope_frequencies(128, llama31=True)
    assert llama[0] == 1.0  # high frequencies are kept as they are
    assert llama[63] == pytest.approx(5e5 ** (-126 / 128) / 8)  # low ones are divided by the scale 8
    # in between they blend: f = 5e5^-0.5, smooth = 8192 / (2π·3) · f - 1/3 = 0.28128
    assert llama[32] == pytest.approx(0.0005248461609929547, rel=1e-12)


def test_rope_tolerance_grows_with_position_unless_angles_are_cached():
    assert rope_atol(1e-2, 65535, cached_angles=False) == pytest.approx(1e-2 + math.sqrt(2) * 65535 / 2**20)
    assert rope_atol(1e-2, 65535, cached_angles=True) == 1e-2
    assert rope_atol(1e-2, 0, cached_angles=False) == 1e-2


def test_paged_layout_arithmetic():
    assert pages_for(2048, 16) == (128, 16)
    assert pages_for(100, 16) == (7, 4)  # 6 full pages + 4 tokens
    assert pages_for(5, 1) == (5, 1)
    # whole pages are allocated: 7 pages of 16 for 100 tokens
    assert paged_cache_bytes(1, 100, 8, 128, 16, 2) == 2 * 7 * 16 * 8 * 128 * 2
    assert paged_cache_bytes(32, 2048, 8, 128, 16, 2) == 268_435_456


def test_checked_requests_spread_over_a_large_batch():
    assert checked_requests(5) == [0, 1, 2, 3, 4]
    picked = checked_requests(128)
    assert len(picked) == 16 and picked[0] == 0 and picked[-1] == 127 and picked == sorted(set(picked))
