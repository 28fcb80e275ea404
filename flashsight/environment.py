"""What this machine offers for profiling: GPUs (NVML), CUDA/torch, FlashInfer and its JIT cache, nsys/ncu.

Every probe degrades to "absent" with a reason instead of failing: `flashsight env` on a laptop without a GPU
or Nsight tools still prints a useful report and exits 0.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from pathlib import Path

from flashsight import __version__
from flashsight.host.jit_cache import flashinfer_cache_dir, jit_cache_summary
from flashsight.profilers import tools


def _version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def probe_gpus() -> dict:
    """GPUs as NVML sees them. NVML needs no CUDA context, so this is cheap and safe under a profiler."""
    try:
        import pynvml
    except ImportError:
        return {"available": False, "reason": "nvidia-ml-py is not installed", "devices": []}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"available": False, "reason": f"NVML: {exc}", "devices": []}
    try:
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        out = {
            "available": True,
            "driver_version": _text(pynvml.nvmlSystemGetDriverVersion()),
            "cuda_driver_version": f"{cuda // 1000}.{cuda % 1000 // 10}",
            "devices": [_probe_device(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())],
        }
    finally:
        pynvml.nvmlShutdown()
    return out


def _probe_device(pynvml, index: int) -> dict:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)

    def attempt(fn, *args):
        try:
            return fn(*args)
        except pynvml.NVMLError:
            return None

    major_minor = attempt(pynvml.nvmlDeviceGetCudaComputeCapability, handle)
    memory = attempt(pynvml.nvmlDeviceGetMemoryInfo, handle)
    attrs = attempt(pynvml.nvmlDeviceGetAttributes_v2, handle) or attempt(pynvml.nvmlDeviceGetAttributes, handle)
    clock = pynvml.NVML_CLOCK_SM, pynvml.NVML_CLOCK_MEM
    return {
        "index": index,
        "name": _text(pynvml.nvmlDeviceGetName(handle)),
        "uuid": _text(attempt(pynvml.nvmlDeviceGetUUID, handle)),
        "compute_capability": f"{major_minor[0]}.{major_minor[1]}" if major_minor else None,
        "sm_count": getattr(attrs, "multiprocessorCount", None),
        "memory_total_bytes": getattr(memory, "total", None),
        "memory_used_bytes": getattr(memory, "used", None),
        "sm_clock_max_mhz": attempt(pynvml.nvmlDeviceGetMaxClockInfo, handle, clock[0]),
        "mem_clock_max_mhz": attempt(pynvml.nvmlDeviceGetMaxClockInfo, handle, clock[1]),
        "sm_clock_mhz": attempt(pynvml.nvmlDeviceGetClockInfo, handle, clock[0]),
        "mem_clock_mhz": attempt(pynvml.nvmlDeviceGetClockInfo, handle, clock[1]),
        "power_limit_w": (lambda mw: mw / 1000 if mw else None)(attempt(pynvml.nvmlDeviceGetPowerManagementLimit, handle)),
        "memory_bus_width_bits": attempt(getattr(pynvml, "nvmlDeviceGetMemoryBusWidth", lambda h: None), handle),
    }


def _fill_from_torch(gpu: dict) -> None:
    """NVML lacks some facts on some GPUs (the SM count on an H100): take them from torch when it is there."""
    if not gpu.get("available") or importlib.util.find_spec("torch") is None:
        return
    if all(d.get("sm_count") for d in gpu["devices"]):
        return
    import torch

    if not torch.cuda.is_available():
        return
    for d in gpu["devices"]:
        if d.get("sm_count") is None and d["index"] < torch.cuda.device_count():
            d["sm_count"] = torch.cuda.get_device_properties(d["index"]).multi_processor_count


def probe_torch() -> dict:
    if importlib.util.find_spec("torch") is None:
        return {"installed": False}
    import torch

    return {
        "installed": True,
        "version": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }


def probe_flashinfer() -> dict:
    version = _version_of("flashinfer-python") or _version_of("flashinfer")
    return {"installed": version is not None, "version": version,
            "jit_cache": jit_cache_summary(flashinfer_cache_dir())}


def probe_tools() -> dict:
    nsys, ncu = tools.find_nsys(), tools.find_ncu()
    return {
        "nsys": nsys.as_dict() if nsys else None,
        "ncu": ncu.as_dict() if ncu else None,
        "qdstrm_importer": tools.find_importer(),
        "ncu_report_module": _version_of("ncu-report"),
    }


def probe() -> dict:
    gpu = probe_gpus()
    _fill_from_torch(gpu)
    return {
        "flashsight": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "gpu": gpu,
        "torch": probe_torch(),
        "flashinfer": probe_flashinfer(),
        "tools": probe_tools(),
    }


def probe_isolated(timeout_s: float = 180) -> dict:
    """probe() in a child process, for the orchestrating processes (profile, sweep).

    probe() imports torch and creates a CUDA context: seconds of start-up and GPU memory held on device 0 for
    as long as the orchestrator lives, while its workers profile. A child pays that once and exits.
    """
    import json
    import subprocess

    from flashsight.host.procs import flashsight_env

    try:
        done = subprocess.run([sys.executable, "-m", "flashsight", "env", "--json"], capture_output=True,
                              text=True, timeout=timeout_s, stdin=subprocess.DEVNULL, env=flashsight_env())
        if done.returncode == 0:
            return json.loads(done.stdout)
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        reason = str(exc)
    return {"flashsight": __version__, "python": sys.version.split()[0], "host": platform.node(),
            "gpu": probe_gpus(), "torch": {"installed": None, "probe_error": reason},
            "flashinfer": probe_flashinfer(), "tools": probe_tools()}


def write_env_json(out_dir: Path, name: str = "env.json") -> Path:
    """The environment record every run directory carries, probed without importing torch here."""
    from flashsight.host.files import write_json

    return write_json(probe_isolated(), Path(out_dir) / name)
