"""Decode attention: BatchDecodeWithPagedKVCacheWrapper, one new query token per request over a paged KV cache.

cuda_graph=true replays a torch CUDA graph captured around run() (the way serving engines run decode): the
graph is captured in prepare, each step is one replay. graph_wrapper picks what is captured:
CUDAGraphBatchDecodeWithPagedKVCacheWrapper (FlashInfer's graph-safe wrapper: fixed page-table buffers,
split-KV over a padded grid) or the plain wrapper after plan(). use_tensor_cores=true selects FlashInfer's
tensor-core (prefill-kernel) decode path, needed for GQA groups the CUDA-core kernel is not compiled for.
pdl sets run(enable_pdl=...): programmatic dependent launch (auto: FlashInfer's choice, on for Hopper).

FLOPs per step (H query heads, D head_dim): q·k and p·v over kv_len keys, 2·D FLOPs each per key:
    4 · batch · H · kv_len · D                       (softmax not counted)
Bytes per step (e = element size, KH KV heads): K and V read once, q read and the output written:
    batch · e · D · (2 · kv_len · KH + 2 · H)        (int32 page table and split-KV partials left out)
Throughput: tokens/s = batch / step time (one token per request per step).
"""

from __future__ import annotations

import math

from contextlib import contextmanager

from flashsight.errors import ParamError, WorkloadError
from flashsight.workloads.attention_ref import (
    DECODE_GROUP_SIZES,
    HEAD_DIMS,
    WORKSPACE_BYTES,
    build_paged_kv,
    check_requests,
    paged_cache_bytes,
    reference_attention,
)
from flashsight.workloads.harness import Case, Workload
from flashsight.workloads.params import Param, ParamSpec
from flashsight.workloads.prefill import check_heads
from flashsight.workloads.tensors import DTYPES, element_size, torch_dtype


PDL = ("auto", "on", "off")


def decode_flops(batch: int, kv_len: int, num_qo_heads: int, head_dim: int) -> int:
    return 4 * batch * num_qo_heads * kv_len * head_dim


def decode_bytes(batch: int, kv_len: int, num_qo_heads: int, num_kv_heads: int, head_dim: int, elem: int) -> int:
    return batch * elem * head_dim * (2 * kv_len * num_kv_heads + 2 * num_qo_heads)


class Decode(Workload):
    name = "decode"
    description = "FlashInfer batch decode attention over a paged KV cache; cuda_graph=true replays a CUDA graph"
    spec = ParamSpec((
        Param("batch", int, 32, "requests (one query token each)", min=1),
        Param("kv_len", int, 2048, "KV tokens per request", min=1),
        Param("num_qo_heads", int, 32, "query heads", min=1),
        Param("num_kv_heads", int, 8, "KV heads (32/8 GQA, 32/32 MHA)", min=1),
        Param("head_dim", int, 128, "head dimension", choices=HEAD_DIMS),
        Param("page_size", int, 16, "tokens per KV page", min=1),
        Param("use_tensor_cores", bool, False, "tensor-core decode kernels"),
        Param("cuda_graph", bool, False, "replay run() from a captured CUDA graph"),
        Param("graph_wrapper", bool, True, "cuda_graph: capture CUDAGraphBatchDecodeWithPagedKVCacheWrapper "
                                           "(false: the plain wrapper)"),
        Param("pdl", str, "auto", "programmatic dependent launch: run(enable_pdl=...)", choices=PDL),
        Param("dtype", str, "float16", "q/k/v dtype", choices=DTYPES),
    ))
    study_grid = {"batch": [1, 2, 4, 8, 16, 32, 64, 128], "kv_len": [2048], "num_kv_heads": [8, 32]}

    def validate(self, cfg: dict) -> None:
        group = check_heads(self.name, cfg["num_qo_heads"], cfg["num_kv_heads"])
        if not cfg["use_tensor_cores"] and group not in DECODE_GROUP_SIZES:
            sizes = ", ".join(map(str, DECODE_GROUP_SIZES))
            raise ParamError(f"decode: GQA group size {group} (num_qo_heads / num_kv_heads) needs "
                             f"use_tensor_cores=true; the CUDA-core kernel supports {sizes}")

    def footprint_bytes(self, cfg: dict) -> int:
        b, d, e = cfg["batch"], cfg["head_dim"], element_size(cfg["dtype"])
        cache = paged_cache_bytes(b, cfg["kv_len"], cfg["num_kv_heads"], d, cfg["page_size"], e)
        return cache + 2 * b * cfg["num_qo_heads"] * d * e + WORKSPACE_BYTES

    def prepare(self, cfg: dict) -> Case:
        import flashinfer
        import torch

        b, n, h, kh, d = cfg["batch"], cfg["kv_len"], cfg["num_qo_heads"], cfg["num_kv_heads"], cfg["head_dim"]
        dtype, tensor_cores = torch_dtype(cfg["dtype"]), cfg["use_tensor_cores"]
        sm_scale = 1.0 / math.sqrt(d)
        gen = torch.Generator(device="cuda").manual_seed(0)
        kv = build_paged_kv(b, n, kh, d, cfg["page_size"], dtype, gen)
        q = torch.randn(b, h, d, device="cuda", dtype=dtype, generator=gen)
        out = torch.empty_like(q)
        workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device="cuda")

        graph_wrapper = cfg["cuda_graph"] and cfg["graph_wrapper"]
        with _stage("plan (JIT)"):
            if graph_wrapper:
                # The graph reads the page table from these fixed buffers; plan() copies into them.
                wrapper = flashinfer.CUDAGraphBatchDecodeWithPagedKVCacheWrapper(
                    workspace,
                    torch.empty(b + 1, dtype=torch.int32, device="cuda"),
                    torch.empty(kv.indices.numel(), dtype=torch.int32, device="cuda"),
                    torch.empty(b, dtype=torch.int32, device="cuda"),
                    "NHD",
                    use_tensor_cores=tensor_cores,
                )
            else:
                wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(workspace, "NHD",
                                                                        use_tensor_cores=tensor_cores)
            wrapper.plan(kv.indptr, kv.indices, kv.last_page_len, h, kh, d, cfg["page_size"],
                         sm_scale=sm_scale, q_data_type=dtype, kv_data_type=dtype)
        enable_pdl = {"auto": None, "on": True, "off": False}[cfg["pdl"]]

        def launch():
            return wrapper.run(q, (kv.k_cache, kv.v_cache), out=out, enable_pdl=enable_pdl)

        with _stage("first launch"):  # outside the measured range and outside any capture
            launch()
        if cfg["cuda_graph"]:
            with _stage("CUDA graph capture"):
                graph = _capture(launch)
            step = _Replay(graph, out, keep=(wrapper, workspace, launch))
            with _stage("CUDA graph replay"):
                step()
        else:
            step = launch

        def check():
            out.zero_()
            step()
            torch.cuda.synchronize()
            return check_requests(
                "decode", b,
                lambda r: out[r:r + 1],
                lambda r: reference_attention(q[r:r + 1], *kv.request_kv(r), causal=False, sm_scale=sm_scale),
                cfg["dtype"],
            )

        elem = element_size(cfg["dtype"])
        return Case(
            step=step,
            check=check,
            flops=decode_flops(b, n, h, d),
            bytes=decode_bytes(b, n, h, kh, d, elem),
            items=b,
            item_name="tokens",
            notes={"sm_scale": sm_scale, "pages_per_request": kv.pages_per_request,
                   "wrapper": type(wrapper).__name__},
        )


class _Replay:
    """One measured step of the CUDA-graph variant: a replay of the captured graph.

    The graph holds raw pointers into the wrapper's buffers (workspace, page table, plan info). It keeps the
    wrapper alive itself: otherwise, once prepare() returns, nothing references the wrapper, its buffers go
    back to torch's allocator, and the next replay reads whatever reused that memory (an illegal address).
    """

    def __init__(self, graph, out, keep: tuple):
        self.graph, self.out, self.keep = graph, out, keep

    def __call__(self):
        self.graph.replay()
        return self.out


def _capture(launch):
    """Capture launch() into a CUDA graph, after warming it up on a side stream as torch requires."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            launch()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        launch()
    torch.cuda.synchronize()
    return graph


@contextmanager
def _stage(what: str):
    """Synchronise after a set-up stage so an asynchronous CUDA error is blamed on the stage that caused it."""
    import torch

    try:
        yield
        torch.cuda.synchronize()
    except RuntimeError as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise WorkloadError(f"decode: {what} failed: {first}") from None
