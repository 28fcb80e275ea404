"""A small CUDA workload that makes every NVTX/GPU shape the nsys parser must handle (run it under nsys).

Shapes, each named by its ranges so a test can find it:
  nested push/pop ranges (3 levels, repeated so counts, min and max differ)   step > attention > matmul
  two named domains plus the default one, registered strings and plain text   flashsight.A / flashsight.B
  start/end ranges: same thread with GPU work, one ended on another thread, one never ended
  two Python threads launching work on two streams                            worker_b
  CUDA graph capture and replay (one launch, several kernels)                 graph_capture, graph_replay
  memcpy H2D/D2H/D2D and memset (runtime and driver API)                      copies, memsets
  ranges with no GPU work                                                      cpu_only, sync_only
  a Triton kernel when triton imports and compiles                             triton_add
  a kernel launched outside any range, an NVTX mark, the same text in two domains (work)

Plain text comes from torch.cuda.nvtx (nvtxRangePushA/StartA); registered strings from the nvtx package
(every message it sends is a registered string of its domain). Small and fast: well under 20 s on an H100.
Usage: nsys profile --trace=cuda,nvtx,osrt --sample=none --cpuctxsw=none -o OUT python3 devtools/nsys_shapes.py
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
import traceback

import nvtx
import torch

DOM_A, DOM_B = "flashsight.A", "flashsight.B"
N = 256


def shape(name: str, fn) -> None:
    """Run one shape; a failure is reported and the rest still run (the capture stays useful)."""
    try:
        fn()
    except Exception:  # noqa: BLE001 - a devtool: say what broke, keep going
        print(f"SHAPE FAILED: {name}", file=sys.stderr)
        traceback.print_exc()


def push(text: str):
    torch.cuda.nvtx.range_push(text)  # default domain, plain ASCII text


def pop():
    torch.cuda.nvtx.range_pop()


def nested(x: torch.Tensor, w: torch.Tensor, iters: int = 3, size_step: int = 64) -> None:
    """Default-domain plain text, 3 levels deep; a domain-A registered-string range inside."""
    for i in range(iters):
        n = N + i * size_step  # different work per iteration: min != max in the summaries
        a, b = x[:n, :n], w[:n, :n]
        push("step")
        push("attention")
        push("matmul")
        y = a @ b
        pop()
        s = torch.softmax(y, dim=-1)
        with nvtx.annotate("work", domain=DOM_A):  # registered string, domain A, depth 2
            s = s * 2.0
        pop()
        push("work")  # the same text in the default domain
        s.add_(1.0)
        pop()
        pop()


def start_end_same_thread(x: torch.Tensor) -> None:
    rid = torch.cuda.nvtx.range_start("se_plain")  # plain text, start/end, same thread, GPU work
    y = x.sin()
    nvtx_rid = nvtx.start_range("se_registered", domain=DOM_A)  # registered, domain A, overlaps se_plain
    y = y.cos()
    torch.cuda.nvtx.range_end(rid)
    y = y.exp()
    nvtx.end_range(nvtx_rid)


def worker_b(x: torch.Tensor, stream: torch.cuda.Stream, handoff: dict, started: threading.Event) -> None:
    """Second thread: its own stream, domain B ranges, and it ends a range the main thread started."""
    dom = nvtx.get_domain(DOM_B)
    dom.get_registered_string("b_step")  # registered up front: the nsys StringIds path
    started.wait(10)
    with torch.cuda.stream(stream):
        for i in range(2):
            nvtx.push_range("b_step", domain=DOM_B)
            y = x @ x
            push("b_inner")  # default domain inside domain B, same thread
            y = y.relu()
            pop()
            nvtx.pop_range(domain=DOM_B)
        nvtx.end_range(handoff["cross_thread"])  # started on the main thread, ended here
        push("work")  # same text as main thread's default-domain range
        y = y + 1
        pop()
    stream.synchronize()


def threads_and_streams(x: torch.Tensor) -> None:
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    handoff: dict = {}
    started = threading.Event()
    xb = x.clone()
    torch.cuda.synchronize()
    t = threading.Thread(target=worker_b, args=(xb, s2, handoff, started), name="worker_b")
    t.start()
    handoff["cross_thread"] = nvtx.start_range("cross_thread", domain=DOM_B)
    with torch.cuda.stream(s1):
        push("main_stream1")
        started.set()
        for _ in range(3):
            y = x @ x
        pop()
    t.join()
    torch.cuda.synchronize()


def cuda_graph(x: torch.Tensor) -> None:
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the graph, as torch asks
        for _ in range(2):
            _ = (static_x * 2.0).relu() + 1.0
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    push("graph_capture")  # API calls, no GPU ops executed
    with torch.cuda.graph(g):
        static_y = (static_x * 2.0).relu() + 1.0
    pop()
    torch.cuda.synchronize()
    push("graph_replay")  # two launches, three kernels each: op count counts launches
    g.replay()
    g.replay()
    pop()
    torch.cuda.synchronize()
    del static_y


def _cudart():
    """The libcudart torch loaded (so CUPTI traces our calls like torch's), else None."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "libcudart.so" in path:
                return ctypes.CDLL(path)
    return None


def copies(x: torch.Tensor) -> None:
    host = torch.randn(N, N)
    pinned = torch.randn(N, N).pin_memory()
    push("copies")
    d1 = host.to("cuda")  # pageable H2D
    d2 = pinned.to("cuda", non_blocking=True)  # pinned H2D
    d3 = torch.empty_like(d1)
    d3.copy_(d2)  # D2D
    back = d3.cpu()  # D2H
    pop()
    torch.cuda.synchronize()
    del d1, back


def memsets(x: torch.Tensor) -> None:
    buf = torch.empty(1 << 20, dtype=torch.uint8, device="cuda")
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    push("memsets")
    cudart = _cudart()
    if cudart is not None:
        err = cudart.cudaMemsetAsync(ctypes.c_void_p(buf.data_ptr()), ctypes.c_int(0), ctypes.c_size_t(buf.numel()), stream)
        if err:
            print(f"cudaMemsetAsync returned {err}", file=sys.stderr)
    else:
        print("libcudart not loaded by torch: no runtime memset", file=sys.stderr)
    libcuda = ctypes.CDLL("libcuda.so.1")
    err = libcuda.cuMemsetD32Async(ctypes.c_uint64(buf.data_ptr()), ctypes.c_uint(7), ctypes.c_size_t(buf.numel() // 4), stream)
    if err:
        print(f"cuMemsetD32Async returned {err}", file=sys.stderr)
    pop()
    torch.cuda.synchronize()


def no_gpu_work() -> None:
    push("cpu_only")
    time.sleep(0.002)
    pop()
    push("sync_only")  # CUDA API calls, no GPU operation
    torch.cuda.synchronize()
    pop()
    nvtx.mark("a_mark", domain=DOM_A)  # marks are not ranges


try:  # Triton is optional: the shape is skipped when it is missing or cannot compile
    import triton
    import triton.language as tl

    @triton.jit
    def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)

except Exception:  # noqa: BLE001
    triton = None


def triton_add(x: torch.Tensor) -> None:
    if triton is None:
        print("triton not available: no Triton shape", file=sys.stderr)
        return
    a = x.flatten()
    out = torch.empty_like(a)
    grid = (triton.cdiv(a.numel(), 1024),)
    _add_kernel[grid](a, a, out, a.numel(), BLOCK=1024)  # compile outside the range
    torch.cuda.synchronize()
    push("triton_add")  # launched through the driver API (cuLaunchKernel)
    _add_kernel[grid](a, a, out, a.numel(), BLOCK=1024)
    pop()
    torch.cuda.synchronize()


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(N + 128, N + 128, device="cuda")
    w = torch.randn(N + 128, N + 128, device="cuda")
    _ = x @ w  # warm-up (cuBLAS handle), outside any range
    torch.cuda.synchronize()
    shape("nested", lambda: nested(x, w))
    shape("start_end", lambda: start_end_same_thread(x))
    shape("threads_and_streams", lambda: threads_and_streams(x[:N, :N].contiguous()))
    shape("cuda_graph", lambda: cuda_graph(x))
    shape("copies", lambda: copies(x))
    shape("memsets", lambda: memsets(x))
    shape("no_gpu_work", no_gpu_work)
    shape("triton", lambda: triton_add(x))
    torch.cuda.synchronize()
    torch.cuda.nvtx.range_start("never_ended")  # an unclosed range: reports end it at the last timestamp
    _ = x.abs()
    torch.cuda.synchronize()
    print("nsys_shapes done")


if __name__ == "__main__":
    main()
