"""The shared workload harness: set-up, correctness, warm-up, the measured NVTX range, timing, result JSON.

A workload says what to build and what one measured step is (`Workload.prepare` returns a `Case`); the
harness does everything around it the same way for every workload:

    prepare (alloc, plan, JIT)  ->  check against the torch reference  ->  warm-up  ->  measured NVTX range

Only the last part is inside the measured range, whose name is deterministic per config (`range_name`), so
`ncu --nvtx --nvtx-include flashsight@<name>/` profiles exactly the kernels that matter. Under ncu the
measured range runs one step (ncu replays each kernel itself); otherwise `iters` steps, each timed with CUDA
events.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flashsight.errors import ParamError, WorkloadError
from flashsight.host.files import write_json
from flashsight.schema.contract import NVTX_DOMAIN, PARAMS_ENV, PROFILER_ENV, ncu_nvtx_filter, range_name
from flashsight.schema.layout import RESULT_FILE
from flashsight.workloads.params import ParamSpec



@dataclass
class Case:
    """One prepared config: everything allocated, planned and compiled, ready to measure."""

    step: Callable[[], Any]  # one measured unit of work (may launch several kernels)
    check: Callable[[], dict]  # compares against the torch reference; returns error figures, raises on mismatch
    flops: float  # analytic FLOPs of one step
    bytes: float  # analytic bytes moved to/from device memory by one step
    items: float | None = None  # e.g. tokens processed by one step, for a throughput figure
    item_name: str | None = None  # e.g. "tokens"
    notes: dict = field(default_factory=dict)


class Workload:
    """Subclass per workload family: name, params, the study's grid, and prepare().

    Kernel workloads (kind "kernel") implement prepare() and get the harness's flow; a workload that measures
    something else (the JIT study: wall time around calls) sets its own kind and overrides execute().
    """

    name: str = ""
    kind: str = "kernel"
    description: str = ""
    spec: ParamSpec = ParamSpec(())
    study_grid: dict[str, list] = {}

    def validate(self, cfg: dict) -> None:
        """Cross-parameter checks (heads divisible, ...): raise ParamError. Runs before any GPU work."""

    def footprint_bytes(self, cfg: dict) -> int | None:
        """GPU memory the config's tensors need, for a clear error before allocating; None: unknown."""
        return None

    def prepare(self, cfg: dict) -> Case:  # pragma: no cover - abstract
        raise NotImplementedError

    def execute(self, cfg: dict, *, job_dir: Path | None, warmup: int, iters: int | None) -> dict:
        """Run one resolved config in this process and return its result record."""
        return _run_kernel(self, cfg, job_dir=job_dir, warmup=warmup, iters=iters)

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        cfg = self.spec.resolve(given, self.name)
        self.validate(cfg)
        return cfg

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "params": [p.describe() for p in self.spec.params],
            "study_grid": self.study_grid,
        }


def _cuda():
    """torch.cuda, after making sure a device is there to time on."""
    import torch

    if not torch.cuda.is_available():
        raise WorkloadError("no CUDA device visible: FlashInfer workloads need a GPU (see `flashsight env`)")
    return torch.cuda


def measure(case: Case, *, warmup: int, iters: int, name: str) -> list[float]:
    """Warm up outside the range, then time `iters` steps inside the measured NVTX range. Returns ms per step."""
    import nvtx

    cuda = _cuda()
    for _ in range(warmup):
        case.step()
    cuda.synchronize()
    events = [(cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)) for _ in range(iters)]
    nvtx.push_range(message=name, domain=NVTX_DOMAIN)
    try:
        for start, stop in events:
            start.record()
            case.step()
            stop.record()
        cuda.synchronize()
    finally:
        nvtx.pop_range(domain=NVTX_DOMAIN)
    return [start.elapsed_time(stop) for start, stop in events]


# ---------------------------------------------------------------------------------------------- running


def _summary(times_ms: list[float]) -> dict:
    return {
        "median_ms": statistics.median(times_ms),
        "mean_ms": statistics.fmean(times_ms),
        "min_ms": min(times_ms),
        "max_ms": max(times_ms),
        "stdev_ms": statistics.stdev(times_ms) if len(times_ms) > 1 else 0.0,
    }


def rates(case: Case, seconds: float) -> dict:
    """Achieved rates of one step taking `seconds`, from the workload's analytic FLOPs and bytes."""
    out = {
        "flops": case.flops,
        "bytes": case.bytes,
        "arithmetic_intensity": case.flops / case.bytes if case.bytes else None,
        "achieved_tflops": case.flops / seconds / 1e12 if seconds > 0 else None,
        "achieved_gbps": case.bytes / seconds / 1e9 if seconds > 0 else None,
    }
    if case.items:
        out[f"{case.item_name}_per_s"] = case.items / seconds if seconds > 0 else None
        out["items"] = case.items
        out["item_name"] = case.item_name
    return out


def run_workload(
    workload: Workload,
    given: dict[str, Any],
    *,
    job_dir: Path | None = None,
    warmup: int = 10,
    iters: int | None = None,
) -> dict:
    """Run one config of a workload in this process and return (and write) its result record."""
    if (iters is not None and iters < 1) or warmup < 0:
        raise ParamError("iters must be >= 1 and warmup >= 0")
    cfg = workload.resolve(given)
    return workload.execute(cfg, job_dir=Path(job_dir) if job_dir is not None else None, warmup=warmup,
                            iters=iters)


def _run_kernel(workload: Workload, cfg: dict, *, job_dir: Path | None, warmup: int, iters: int | None) -> dict:
    """The kernel flow: fits? -> prepare -> check -> warm-up -> measured range -> result.json."""
    profiler = os.environ.get(PROFILER_ENV, "")
    iters = iters if iters is not None else (1 if profiler == "ncu" else 100)
    name = range_name(workload.name, cfg)
    started = time.time()

    with _gpu_errors(workload.name):
        _check_fits(workload, cfg)
        t0 = time.perf_counter()
        case = workload.prepare(cfg)
        prepare_s = time.perf_counter() - t0
        correctness = case.check()
        times_ms = measure(case, warmup=warmup, iters=iters, name=name)
    timing = _summary(times_ms)

    result = {
        "workload": workload.name,
        "params": cfg,
        "nvtx_domain": NVTX_DOMAIN,
        "nvtx_range": name,
        "ncu_nvtx_include": ncu_nvtx_filter(workload.name, cfg),
        "profiler": profiler or None,
        "warmup": warmup,
        "iters": iters,
        "prepare_s": prepare_s,
        "timing": timing,
        # ncu serialises and replays every kernel: its wall time says nothing about the kernels' speed.
        "timing_valid": profiler != "ncu",
        "rates": rates(case, timing["median_ms"] / 1e3),
        "correctness": correctness,
        "notes": case.notes,
        "device": _device_summary(),
        "host": platform.node(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
    }
    if job_dir is not None:
        write_json(result, Path(job_dir) / RESULT_FILE)
    return result


def _check_fits(workload: Workload, cfg: dict) -> None:
    """A config that cannot fit in free GPU memory is a parameter error, said before anything is allocated."""
    need = workload.footprint_bytes(cfg)
    if need is None:
        return
    free, _total = _cuda().mem_get_info()
    if need > free:
        raise ParamError(f"{workload.name}: this config needs about {need / 2**30:.1f} GiB of GPU memory, "
                         f"{free / 2**30:.1f} GiB are free (reduce the batch or lengths)")


@contextmanager
def _gpu_errors(workload: str):
    """Out-of-memory and FlashInfer/CUDA failures become one-line errors instead of tracebacks."""
    try:
        import torch
    except ModuleNotFoundError:  # analysis-only install: the built-in workloads need the [gpu] extra
        raise WorkloadError(f"{workload}: torch is not installed (pip install 'flashsight[gpu]')") from None

    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        raise ParamError(f"{workload}: out of GPU memory: {_first_line(exc)}") from None
    except RuntimeError as exc:  # FlashInfer raises RuntimeError for unsupported shapes and CUDA errors
        raise WorkloadError(f"{workload}: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _device_summary() -> dict:
    import torch

    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {
        "name": props.name,
        "sm_count": props.multi_processor_count,
        "compute_capability": f"{props.major}.{props.minor}",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }


def params_from_env() -> dict:
    """The config of a job launched by the orchestrator (FLASHSIGHT_PARAMS holds a JSON object)."""
    raw = os.environ.get(PARAMS_ENV, "{}")
    try:
        params = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParamError(f"{PARAMS_ENV} is not valid JSON: {exc.msg}") from None
    if not isinstance(params, dict):
        raise ParamError(f"{PARAMS_ENV} must hold a JSON object")
    return params


def assert_close(name: str, actual, expected, *, atol: float, rtol: float) -> dict:
    """Compare a FlashInfer output with its torch reference; raise WorkloadError on mismatch."""
    import torch

    actual_f, expected_f = actual.float(), expected.float()
    diff = (actual_f - expected_f).abs()
    max_abs = diff.max().item() if diff.numel() else 0.0
    bad = diff > (atol + rtol * expected_f.abs())
    mismatched = int(bad.sum().item())
    figures = {"output": name, "max_abs_err": max_abs, "mismatched": mismatched, "numel": diff.numel(),
               "atol": atol, "rtol": rtol, "ok": mismatched == 0 and bool(torch.isfinite(actual_f).all())}
    if not figures["ok"]:
        raise WorkloadError(
            f"{name}: output disagrees with the torch reference ({mismatched} of {diff.numel()} elements "
            f"outside atol={atol} rtol={rtol}; max abs error {max_abs:.4g})"
        )
    return figures
