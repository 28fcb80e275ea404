"""Prefill attention: BatchPrefillWithPagedKVCacheWrapper (and the ragged-KV wrapper) over `batch` requests.

Every request has seq_len query tokens attending to seq_len KV tokens (qo_len = kv_len: a fresh prompt).
The wrapper is planned once in prepare; only run() is measured.

FLOPs per step (H query heads, D head_dim): each (query, key) pair costs a D-long dot product for q·k and a
D-long multiply-add for p·v, 2·D FLOPs each, so
    non-causal   4 · batch · qo_len · kv_len · H · D
    causal       half of that (the mask keeps one triangle; the diagonal is not counted separately)
Softmax (exp, max, sum) is not counted.
Bytes per step (e = element size, KH KV heads): Q read and O written once, K and V read once (paged or not;
the int32 page table is left out):
    batch · e · D · (2 · qo_len · H + 2 · kv_len · KH)
Throughput: tokens/s = batch · qo_len / step time.
"""

from __future__ import annotations

import math

from flashsight.errors import ParamError
from flashsight.workloads.attention_ref import (
    HEAD_DIMS,
    WORKSPACE_BYTES,
    build_paged_kv,
    check_requests,
    paged_cache_bytes,
    reference_attention,
)
from flashsight.workloads.harness import Case, Workload
from flashsight.workloads.params import Param, ParamSpec
from flashsight.workloads.tensors import DTYPES, element_size, torch_dtype

BACKENDS = ("fa2", "fa3", "auto")
KV_STORAGE = ("paged", "ragged")


def prefill_flops(batch: int, qo_len: int, kv_len: int, num_qo_heads: int, head_dim: int, causal: bool) -> float:
    full = 4 * batch * qo_len * kv_len * num_qo_heads * head_dim
    return full / 2 if causal else float(full)


def prefill_bytes(batch: int, qo_len: int, kv_len: int, num_qo_heads: int, num_kv_heads: int, head_dim: int,
                  elem: int) -> int:
    return batch * elem * head_dim * (2 * qo_len * num_qo_heads + 2 * kv_len * num_kv_heads)


def check_heads(workload: str, num_qo_heads: int, num_kv_heads: int) -> int:
    """The GQA group size, or a ParamError when the query heads do not split evenly over the KV heads."""
    if num_qo_heads % num_kv_heads:
        raise ParamError(f"{workload}: num_qo_heads={num_qo_heads} is not divisible by "
                         f"num_kv_heads={num_kv_heads}")
    return num_qo_heads // num_kv_heads


class Prefill(Workload):
    name = "prefill"
    description = "FlashInfer batch prefill attention over a paged (or ragged) KV cache, qo_len = kv_len"
    spec = ParamSpec((
        Param("batch", int, 1, "requests", min=1),
        Param("seq_len", int, 2048, "query = KV tokens per request", min=1),
        Param("num_qo_heads", int, 32, "query heads", min=1),
        Param("num_kv_heads", int, 8, "KV heads (32/8 GQA, 32/32 MHA)", min=1),
        Param("head_dim", int, 128, "head dimension", choices=HEAD_DIMS),
        Param("page_size", int, 16, "tokens per KV page (paged only)", min=1),
        Param("causal", bool, True, "causal mask"),
        Param("backend", str, "fa2", "FlashInfer backend (auto: fa3 on Hopper)", choices=BACKENDS),
        Param("kv_storage", str, "paged", "paged KV cache or ragged (contiguous) KV", choices=KV_STORAGE),
        Param("dtype", str, "float16", "q/k/v dtype", choices=DTYPES),
    ))
    study_grid = {"batch": [1, 32], "seq_len": [512, 1024, 2048, 4096]}

    def validate(self, cfg: dict) -> None:
        check_heads(self.name, cfg["num_qo_heads"], cfg["num_kv_heads"])

    def footprint_bytes(self, cfg: dict) -> int:
        b, s, d, e = cfg["batch"], cfg["seq_len"], cfg["head_dim"], element_size(cfg["dtype"])
        page = cfg["page_size"] if cfg["kv_storage"] == "paged" else 1
        qo = 2 * b * s * cfg["num_qo_heads"] * d * e  # q and the output
        return qo + paged_cache_bytes(b, s, cfg["num_kv_heads"], d, page, e) + WORKSPACE_BYTES

    def prepare(self, cfg: dict) -> Case:
        import flashinfer
        import torch

        b, s, h, kh, d = cfg["batch"], cfg["seq_len"], cfg["num_qo_heads"], cfg["num_kv_heads"], cfg["head_dim"]
        causal, dtype = cfg["causal"], torch_dtype(cfg["dtype"])
        if cfg["backend"] == "fa3" and torch.cuda.get_device_capability() != (9, 0):
            raise ParamError("prefill: backend=fa3 needs a Hopper GPU (SM 9.0); use fa2 or auto")
        sm_scale = 1.0 / math.sqrt(d)
        gen = torch.Generator(device="cuda").manual_seed(0)
        q = torch.randn(b * s, h, d, device="cuda", dtype=dtype, generator=gen)
        out = torch.empty_like(q)
        qo_indptr = torch.arange(0, b * s + 1, s, dtype=torch.int32)
        workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device="cuda")
        common = {"causal": causal, "sm_scale": sm_scale, "q_data_type": dtype, "kv_data_type": dtype}
        notes = {"sm_scale": sm_scale}

        if cfg["kv_storage"] == "paged":
            kv = build_paged_kv(b, s, kh, d, cfg["page_size"], dtype, gen)
            wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(workspace, "NHD", backend=cfg["backend"])
            wrapper.plan(qo_indptr, kv.indptr, kv.indices, kv.last_page_len, h, kh, d, cfg["page_size"], **common)
            notes["pages_per_request"] = kv.pages_per_request

            def step():
                return wrapper.run(q, (kv.k_cache, kv.v_cache), out=out)

            request_kv = kv.request_kv
        else:
            k = torch.randn(b * s, kh, d, device="cuda", dtype=dtype, generator=gen)
            v = torch.randn(b * s, kh, d, device="cuda", dtype=dtype, generator=gen)
            wrapper = flashinfer.BatchPrefillWithRaggedKVCacheWrapper(workspace, "NHD", backend=cfg["backend"])
            wrapper.plan(qo_indptr, qo_indptr.clone(), h, kh, d, **common)

            def step():
                return wrapper.run(q, k, v, out=out)

            def request_kv(r):
                return k[r * s:(r + 1) * s], v[r * s:(r + 1) * s]

        def check():
            step()
            torch.cuda.synchronize()
            return check_requests(
                "prefill", b,
                lambda r: out[r * s:(r + 1) * s],
                lambda r: reference_attention(q[r * s:(r + 1) * s], *request_kv(r), causal=causal, sm_scale=sm_scale),
                cfg["dtype"],
            )

        step()  # first launch (and any lazy set-up) outside the measured range
        torch.cuda.synchronize()
        notes["backend_used"] = getattr(wrapper, "_backend", cfg["backend"])
        elem = element_size(cfg["dtype"])
        return Case(
            step=step,
            check=check,
            flops=prefill_flops(b, s, s, h, d, causal),
            bytes=prefill_bytes(b, s, s, h, kh, d, elem),
            items=b * s,
            item_name="tokens",
            notes=notes,
        )
