"""`python -m flashsight.workloads.jit_probe FAMILY OUT.json [REPEATS]`: time FlashInfer's JIT for one family.

Run by the jit workload in a fresh process, with FLASHINFER_WORKSPACE_BASE pointing at the cache under test.
It imports torch and FlashInfer, sets up tensors and a CUDA context (all timed apart), then times the first
call of the family (a JIT compile in an empty cache, a load from disk in a warm one) and REPEATS more calls
(the module is then in memory). A "call" is what a user does: the function itself for norm and rope; a new
wrapper, plan() and run() for decode and prefill (plan() is where the module is built). Each call's wall time
ends with a device synchronisation.
"""

from __future__ import annotations

import json
import sys
import time


def _norm(torch, flashinfer):
    x = torch.randn(128, 4096, device="cuda", dtype=torch.float16)
    w = torch.randn(4096, device="cuda", dtype=torch.float16)
    return lambda: flashinfer.rmsnorm(x, w)


def _rope(torch, flashinfer):
    q = torch.randn(4096, 32, 128, device="cuda", dtype=torch.float16)
    k = torch.randn(4096, 8, 128, device="cuda", dtype=torch.float16)
    pos = torch.arange(4096, dtype=torch.int32, device="cuda")
    return lambda: flashinfer.apply_rope_pos_ids_inplace(q, k, pos)


def _attention(torch, flashinfer, decode: bool):
    from flashsight.workloads.attention_ref import WORKSPACE_BYTES, build_paged_kv

    batch, kv_len, heads, kv_heads, dim, page = 8, 1024, 32, 8, 128, 16
    gen = torch.Generator(device="cuda").manual_seed(0)
    kv = build_paged_kv(batch, kv_len, kv_heads, dim, page, torch.float16, gen)
    workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device="cuda")
    q = torch.randn(batch * (1 if decode else kv_len), heads, dim, device="cuda", dtype=torch.float16)
    qo_indptr = torch.arange(0, q.shape[0] + 1, q.shape[0] // batch, dtype=torch.int32)

    def call():
        if decode:
            wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(workspace, "NHD")
            wrapper.plan(kv.indptr, kv.indices, kv.last_page_len, heads, kv_heads, dim, page,
                         q_data_type=torch.float16, kv_data_type=torch.float16)
        else:
            wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(workspace, "NHD", backend="fa2")
            wrapper.plan(qo_indptr, kv.indptr, kv.indices, kv.last_page_len, heads, kv_heads, dim, page,
                         causal=True, q_data_type=torch.float16, kv_data_type=torch.float16)
        return wrapper.run(q, (kv.k_cache, kv.v_cache))

    return call


FAMILY_SETUP = {
    "norm": _norm,
    "rope": _rope,
    "decode": lambda torch, fi: _attention(torch, fi, decode=True),
    "prefill": lambda torch, fi: _attention(torch, fi, decode=False),
}


def probe(family: str, repeats: int) -> dict:
    t0 = time.perf_counter()
    import torch

    import_torch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    import flashinfer

    import_flashinfer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch.cuda.init()
    torch.zeros(1, device="cuda").add_(1)  # CUDA context and torch's own lazy init, not FlashInfer's JIT
    call = FAMILY_SETUP[family](torch, flashinfer)
    torch.cuda.synchronize()
    setup_s = time.perf_counter() - t0

    def timed() -> float:
        start = time.perf_counter()
        call()
        torch.cuda.synchronize()
        return time.perf_counter() - start

    first = timed()
    return {
        "family": family,
        "import_torch_s": import_torch_s,
        "import_flashinfer_s": import_flashinfer_s,
        "setup_s": setup_s,
        "first_call_s": first,
        "repeat_call_s": [timed() for _ in range(repeats)],
        "flashinfer_version": getattr(flashinfer, "__version__", None),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3) or argv[0] not in FAMILY_SETUP:
        print(f"usage: python -m flashsight.workloads.jit_probe {{{','.join(FAMILY_SETUP)}}} OUT.json [REPEATS]",
              file=sys.stderr)
        return 2
    record = probe(argv[0], int(argv[2]) if len(argv) == 3 else 3)
    with open(argv[1], "w") as fh:
        json.dump(record, fh, indent=2)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
