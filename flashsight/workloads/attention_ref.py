"""What the attention workloads share: the paged KV layout, its size arithmetic, and the plain torch reference.

The paged cache is FlashInfer's NHD layout, [num_pages, page_size, num_kv_heads, head_dim] for K and for V.
Each request owns ceil(kv_len / page_size) pages; their order in the cache is shuffled so that a check that
passes has exercised the page table, not just a contiguous buffer. The reference gathers a request's pages
back into [kv_len, num_kv_heads, head_dim], expands the KV heads for GQA (query head h reads KV head
h // group, FlashInfer's mapping) and runs torch's scaled_dot_product_attention in float32.

Only the size helpers run without torch; everything that touches tensors imports torch inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

HEAD_DIMS = (64, 128, 256)  # what FlashInfer's attention kernels are compiled for (DISPATCH_HEAD_DIM)
DECODE_GROUP_SIZES = (1, 2, 3, 4, 8)  # GQA group sizes of the CUDA-core decode kernel (DISPATCH_GQA_GROUP_SIZE)
CHECKED_REQUESTS = 16  # the reference runs on at most this many requests, spread over the batch
WORKSPACE_BYTES = 256 * 2**20  # FlashInfer's float workspace (split-KV partial results)


def pages_for(kv_len: int, page_size: int) -> tuple[int, int]:
    """(pages per request, entries in its last page) for kv_len tokens in pages of page_size."""
    pages = math.ceil(kv_len / page_size)
    return pages, kv_len - (pages - 1) * page_size


def paged_cache_bytes(batch: int, kv_len: int, num_kv_heads: int, head_dim: int, page_size: int,
                      elem: int) -> int:
    """Allocated K + V cache, whole pages: 2 · batch · pages · page_size · num_kv_heads · head_dim · e."""
    pages, _ = pages_for(kv_len, page_size)
    return 2 * batch * pages * page_size * num_kv_heads * head_dim * elem


def checked_requests(batch: int, limit: int = CHECKED_REQUESTS) -> list[int]:
    """The requests the reference checks: all of a small batch, else `limit` spread evenly, first and last included."""
    if batch <= limit:
        return list(range(batch))
    return sorted({round(i * (batch - 1) / (limit - 1)) for i in range(limit)})


def tolerance(dtype: str) -> dict:
    """Output tolerance against the float32 reference: a few ulps of the output dtype, bf16 coarser."""
    return {"atol": 2e-2, "rtol": 2e-2} if dtype == "bfloat16" else {"atol": 1e-2, "rtol": 1e-2}


@dataclass
class PagedKV:
    k_cache: Any  # [num_pages, page_size, num_kv_heads, head_dim]
    v_cache: Any
    indptr: Any  # [batch + 1] int32 (host): request b owns indices[indptr[b]:indptr[b+1]]
    indices: Any  # [num_pages] int32 (device): a permutation of the pages
    last_page_len: Any  # [batch] int32 (host)
    pages_per_request: int
    kv_len: int

    def request_kv(self, request: int):
        """Request's K and V gathered back to [kv_len, num_kv_heads, head_dim]."""
        start = request * self.pages_per_request
        ids = self.indices[start:start + self.pages_per_request].long()
        heads, dim = self.k_cache.shape[2], self.k_cache.shape[3]
        k = self.k_cache[ids].reshape(-1, heads, dim)[: self.kv_len]
        v = self.v_cache[ids].reshape(-1, heads, dim)[: self.kv_len]
        return k, v


def build_paged_kv(batch: int, kv_len: int, num_kv_heads: int, head_dim: int, page_size: int, dtype,
                   generator) -> PagedKV:
    import torch

    pages, last = pages_for(kv_len, page_size)
    total = batch * pages
    shape = (total, page_size, num_kv_heads, head_dim)
    k_cache = torch.randn(shape, device="cuda", dtype=dtype, generator=generator)
    v_cache = torch.randn(shape, device="cuda", dtype=dtype, generator=generator)
    indices = torch.randperm(total, device="cuda", generator=generator).to(torch.int32)
    return PagedKV(
        k_cache=k_cache,
        v_cache=v_cache,
        indptr=torch.arange(0, total + 1, pages, dtype=torch.int32),
        indices=indices,
        last_page_len=torch.full((batch,), last, dtype=torch.int32),
        pages_per_request=pages,
        kv_len=kv_len,
    )


def reference_attention(q, k, v, *, causal: bool, sm_scale: float):
    """softmax(q·kᵀ·scale [+ causal mask]) · v for one request, in float32, returned in q's dtype.

    q [qo_len, num_qo_heads, head_dim]; k, v [kv_len, num_kv_heads, head_dim]. Causal aligns the last query
    with the last key (FlashInfer's convention); the workloads only use it with qo_len == kv_len, where that
    is torch's top-left mask too.
    """
    import torch.nn.functional as F

    group = q.shape[1] // k.shape[1]
    if causal and q.shape[0] != k.shape[0]:
        raise ValueError("the reference's causal mask needs qo_len == kv_len")
    qf = q.float().transpose(0, 1).unsqueeze(0)  # [1, H, qo, D]
    kf = k.float().repeat_interleave(group, dim=1).transpose(0, 1).unsqueeze(0)
    vf = v.float().repeat_interleave(group, dim=1).transpose(0, 1).unsqueeze(0)
    out = F.scaled_dot_product_attention(qf, kf, vf, is_causal=causal, scale=sm_scale)
    return out.squeeze(0).transpose(0, 1).to(q.dtype)


def check_requests(name: str, batch: int, actual_of, expected_of, dtype: str) -> dict:
    """Compare every checked request's output with its reference; raise on the first mismatch.

    actual_of(b) and expected_of(b) return request b's output tensors. Figures are the worst over requests.
    """
    from flashsight.workloads.harness import assert_close

    worst: dict | None = None
    requests = checked_requests(batch)
    for b in requests:
        figures = assert_close(f"{name} request {b}", actual_of(b), expected_of(b), **tolerance(dtype))
        if worst is None or figures["max_abs_err"] > worst["max_abs_err"]:
            worst = figures
    assert worst is not None
    return worst | {"output": name, "requests_checked": len(requests), "batch": batch}
