"""Small FlashInfer and cuBLAS kernels, each inside its own default-domain NVTX range, for ncu captures.

Ranges (one call each): prefill (paged-KV, fa2, causal), decode (batch decode, paged KV), rmsnorm,
fused_add_rmsnorm, rope (apply_rope_pos_ids_inplace), gemm (torch bf16 matmul -> cuBLAS: warpgroup MMA on SM 9.0),
decode_tc (the same decode on tensor cores: use_tensor_cores=True, mma.sync).
Every call runs once before any range (FlashInfer JIT, cuBLAS heuristics, lazy module loading), so
`ncu --nvtx --nvtx-include NAME/` profiles exactly the kernels of one call. The shapes are printed, so a test can
check derived numbers against them (e.g. the GEMM's tensor FLOPs = 2·M·N·K).
Usage: ncu ... python3 devtools/ncu_kernels.py      (plain `python3 devtools/ncu_kernels.py` warms the JIT cache)
"""

from __future__ import annotations

import json
import os

import flashinfer
import nvtx
import torch

DEV = "cuda"
F16, BF16 = torch.float16, torch.bfloat16
HEADS, KV_HEADS, HEAD_DIM, PAGE = 32, 8, 128, 16
PREFILL_LEN = 1024
DECODE_BATCH, DECODE_KV_LEN = 32, 2048
NORM_ROWS, HIDDEN = 2048, 4096
ROPE_TOKENS = 8192
GEMM_M = GEMM_N = GEMM_K = int(os.environ.get("GEMM_SIZE", "2048"))  # 8192: the cuBLAS GEMM


def paged_kv(num_pages: int):
    shape = (num_pages, PAGE, KV_HEADS, HEAD_DIM)  # NHD layout
    return torch.randn(shape, device=DEV, dtype=F16), torch.randn(shape, device=DEV, dtype=F16)


def setup_prefill(workspace):
    pages = PREFILL_LEN // PAGE
    k, v = paged_kv(pages)
    q = torch.randn(PREFILL_LEN, HEADS, HEAD_DIM, device=DEV, dtype=F16)
    wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(workspace, "NHD", backend="fa2")
    host, dev = dict(dtype=torch.int32), dict(dtype=torch.int32, device=DEV)  # indptrs on the host, as plan wants
    wrapper.plan(
        torch.tensor([0, PREFILL_LEN], **host), torch.tensor([0, pages], **host), torch.arange(pages, **dev),
        torch.tensor([PAGE], **host), HEADS, KV_HEADS, HEAD_DIM, PAGE,
        causal=True, q_data_type=F16, kv_data_type=F16,
    )
    return lambda: wrapper.run(q, (k, v))


def setup_decode(workspace, use_tensor_cores=False):
    pages_per_seq = DECODE_KV_LEN // PAGE
    k, v = paged_kv(DECODE_BATCH * pages_per_seq)
    q = torch.randn(DECODE_BATCH, HEADS, HEAD_DIM, device=DEV, dtype=F16)
    wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(workspace, "NHD", use_tensor_cores=use_tensor_cores)
    host, dev = dict(dtype=torch.int32), dict(dtype=torch.int32, device=DEV)
    wrapper.plan(
        torch.arange(DECODE_BATCH + 1, **host) * pages_per_seq, torch.arange(DECODE_BATCH * pages_per_seq, **dev),
        torch.full((DECODE_BATCH,), PAGE, **host), HEADS, KV_HEADS, HEAD_DIM, PAGE,
        q_data_type=F16, kv_data_type=F16,
    )
    return lambda: wrapper.run(q, (k, v))


def main() -> None:
    torch.manual_seed(0)
    def workspace():  # one per wrapper: plan() keeps its schedule in the workspace
        return torch.empty(128 * 1024 * 1024, dtype=torch.uint8, device=DEV)

    x = torch.randn(NORM_ROWS, HIDDEN, device=DEV, dtype=F16)
    residual = torch.randn_like(x)
    weight = torch.randn(HIDDEN, device=DEV, dtype=F16)
    q_rope = torch.randn(ROPE_TOKENS, HEADS, HEAD_DIM, device=DEV, dtype=F16)
    k_rope = torch.randn(ROPE_TOKENS, KV_HEADS, HEAD_DIM, device=DEV, dtype=F16)
    pos_ids = torch.arange(ROPE_TOKENS, device=DEV, dtype=torch.int32)
    a = torch.randn(GEMM_M, GEMM_K, device=DEV, dtype=BF16)
    b = torch.randn(GEMM_K, GEMM_N, device=DEV, dtype=BF16)

    calls = {
        "prefill": setup_prefill(workspace()),
        "decode": setup_decode(workspace()),
        "rmsnorm": lambda: flashinfer.rmsnorm(x, weight),
        "fused_add_rmsnorm": lambda: flashinfer.fused_add_rmsnorm(x, residual, weight),
        "rope": lambda: flashinfer.apply_rope_pos_ids_inplace(q_rope, k_rope, pos_ids),
        "gemm": lambda: torch.matmul(a, b),
        "decode_tc": setup_decode(workspace(), use_tensor_cores=True),
    }
    for fn in calls.values():  # JIT and warm-up, outside every range
        fn()
    torch.cuda.synchronize()
    for name, fn in calls.items():
        with nvtx.annotate(name):  # default domain: ncu --nvtx-include NAME/
            fn()
        torch.cuda.synchronize()
    print(json.dumps({
        "prefill": dict(qo_len=PREFILL_LEN, kv_len=PREFILL_LEN, heads=HEADS, kv_heads=KV_HEADS, head_dim=HEAD_DIM,
                        page=PAGE, causal=True, dtype="fp16"),
        "decode": dict(batch=DECODE_BATCH, kv_len=DECODE_KV_LEN, heads=HEADS, kv_heads=KV_HEADS,
                       head_dim=HEAD_DIM, page=PAGE, dtype="fp16"),
        "decode_tc": dict(batch=DECODE_BATCH, kv_len=DECODE_KV_LEN, heads=HEADS, kv_heads=KV_HEADS,
                          head_dim=HEAD_DIM, page=PAGE, dtype="fp16", use_tensor_cores=True),
        "rmsnorm": dict(rows=NORM_ROWS, hidden=HIDDEN, dtype="fp16"),
        "rope": dict(tokens=ROPE_TOKENS, heads=HEADS, kv_heads=KV_HEADS, head_dim=HEAD_DIM, dtype="fp16"),
        "gemm": dict(m=GEMM_M, n=GEMM_N, k=GEMM_K, dtype="bf16"),
    }))


if __name__ == "__main__":
    main()
