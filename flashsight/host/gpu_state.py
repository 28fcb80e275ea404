"""The GPU's state around a job, from NVML (nvidia-ml-py): clocks, throttle reasons, power, temperature, driver.

Sampled before and after each job (not during it): enough to see a job that started throttled or ended hot, and
which driver and GPU it ran on. Without NVML or a GPU every sample is {"error": why}: a job's record then says
the conditions are unknown instead of failing. The device is the one CUDA_VISIBLE_DEVICES names first (index
or UUID), else NVML's device 0.
"""

from __future__ import annotations

import os
import time

# NVML clock-event (throttle) reasons: bit -> name. Idle and application clocks are not throttling.
THROTTLE_REASONS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
THROTTLING = {"sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}


def _device(nvml, visible: str | None):
    first = (visible or "").split(",")[0].strip()
    if first.startswith(("GPU-", "MIG-")):
        return nvml.nvmlDeviceGetHandleByUUID(first), first
    index = int(first) if first.isdigit() else 0
    return nvml.nvmlDeviceGetHandleByIndex(index), index


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def reasons(mask: int | None) -> list[str]:
    if mask is None:
        return []
    return [name for bit, name in THROTTLE_REASONS.items() if mask & bit]


def sample(visible: str | None = None) -> dict:
    """One reading of the job's GPU: {time, gpu, uuid, driver, clocks (Hz), throttle reasons, power (W), temp}."""
    visible = visible if visible is not None else os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        import pynvml as nvml
    except ImportError:
        return {"error": "nvidia-ml-py is not installed"}
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ... on a machine without a GPU
        return {"error": f"NVML unavailable: {exc}"}
    try:
        handle, which = _device(nvml, visible)
        out = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nvml_device": str(which),
               "gpu": _text(nvml.nvmlDeviceGetName(handle)), "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
               "driver": _text(nvml.nvmlSystemGetDriverVersion())}
        readings = {
            "sm_clock_hz": lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM) * 1e6,
            "memory_clock_hz": lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM) * 1e6,
            "sm_clock_max_hz": lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM) * 1e6,
            "memory_clock_max_hz": lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM) * 1e6,
            "throttle_mask": lambda: int(_throttle_mask(nvml, handle)),
            "power_w": lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1e3,
            "power_limit_w": lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1e3,
            "temperature_c": lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
        }
        for key, read in readings.items():
            try:
                out[key] = read()
            except Exception:  # a reading this GPU or driver does not support
                out[key] = None
        out["throttle_reasons"] = reasons(out["throttle_mask"])
        return out
    except Exception as exc:
        return {"error": f"NVML: {exc}"}
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def _throttle_mask(nvml, handle) -> int:
    getter = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    return getter(handle)


def throttled(*samples: dict) -> bool | None:
    """True when any sample shows a throttling reason (power cap, thermal, HW slowdown); None: nothing known."""
    known = [s for s in samples if s and "error" not in s and s.get("throttle_mask") is not None]
    if not known:
        return None
    return any(THROTTLING & set(s.get("throttle_reasons") or ()) for s in known)
