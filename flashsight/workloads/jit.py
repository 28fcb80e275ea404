"""The JIT study: what FlashInfer's just-in-time compilation costs, per kernel family. Wall time, not kernels.

For each family (norm, rope, decode, prefill) in its own empty cache directory (FLASHINFER_WORKSPACE_BASE):
  cold        a fresh process, empty cache: the first call compiles the module, then loads and runs it
  disk hit    another fresh process on the now-warm cache: the first call loads the compiled module
  memory hit  later calls in the same process (the module is cached in memory): median of both processes
The first call's wall time includes the kernel's own run, which the memory hits show is tiny. Imports of
torch and FlashInfer and the CUDA context are timed apart and not in any of the three. Each family's cache
(path, size, module count) is reported, and so is the user's default cache; the fresh caches are removed
afterwards unless keep_caches=true.
"""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flashsight.errors import WorkloadError
from flashsight.host import procs
from flashsight.host.files import write_json
from flashsight.schema.layout import RESULT_FILE
from flashsight.workloads.harness import Workload
from flashsight.workloads.params import Param, ParamSpec

FAMILIES = ("norm", "rope", "decode", "prefill")


def family_record(cold: dict, disk: dict, cache: dict) -> dict:
    """One family's timings from the cold and disk-hit probe records and the cache the cold run left."""
    repeats = cold["repeat_call_s"] + disk["repeat_call_s"]
    return {
        "cold_s": cold["first_call_s"],
        "disk_hit_s": disk["first_call_s"],
        "memory_hit_s": statistics.median(repeats) if repeats else None,
        "memory_hit_samples_s": repeats,
        "import_torch_s": cold["import_torch_s"],
        "import_flashinfer_s": cold["import_flashinfer_s"],
        "setup_s": cold["setup_s"],
        "cache": cache,
    }


class Jit(Workload):
    name = "jit"
    kind = "jit"
    description = "FlashInfer JIT cost per kernel family: cold compile, disk-cache hit, memory-cache hit (wall time)"
    spec = ParamSpec((
        Param("family", str, "all", "kernel family, or all of them", choices=FAMILIES + ("all",)),
        Param("repeats", int, 3, "memory-hit calls after the first, per process", min=1),
        Param("cache_root", str, "", "folder for the fresh caches (default: the system temp folder)"),
        Param("keep_caches", bool, False, "keep the fresh caches instead of removing them"),
        Param("timeout_s", float, 600.0, "per probe process", min=1),
    ))
    study_grid = {"family": list(FAMILIES)}

    def execute(self, cfg: dict, *, job_dir: Path | None, warmup: int, iters: int | None) -> dict:
        from flashsight.host.jit_cache import flashinfer_cache_dir, jit_cache_summary

        families = FAMILIES if cfg["family"] == "all" else (cfg["family"],)
        root = Path(tempfile.mkdtemp(prefix="flashsight-jit-", dir=cfg["cache_root"] or None))
        logs = Path(job_dir) if job_dir is not None else root
        started = time.time()
        result = {
            "workload": self.name,
            "kind": self.kind,
            "params": cfg,
            "complete": False,
            "families": {},
            "flashinfer_version": None,
            "default_cache": jit_cache_summary(flashinfer_cache_dir()),
            "caches_kept": cfg["keep_caches"],
            "host": platform.node(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        }
        try:
            for family in families:
                base = root / family
                cold = _probe(family, base, logs / f"jit-{family}-cold.log", cfg)
                cache = jit_cache_summary(base / ".cache" / "flashinfer")
                disk = _probe(family, base, logs / f"jit-{family}-disk.log", cfg)
                result["families"][family] = family_record(cold, disk, cache)
                result["flashinfer_version"] = cold.get("flashinfer_version")
                result["duration_s"] = time.time() - started
                if job_dir is not None:  # a long study killed half-way still leaves the families it finished
                    write_json(result, Path(job_dir) / RESULT_FILE)
        finally:
            if not cfg["keep_caches"]:
                shutil.rmtree(root, ignore_errors=True)
        result["complete"] = True
        if job_dir is not None:
            write_json(result, Path(job_dir) / RESULT_FILE)
        return result


def _probe(family: str, base: Path, log: Path, cfg: dict) -> dict:
    """Run jit_probe for one family in a fresh process against the cache at `base`; its record, or raise."""
    base.mkdir(parents=True, exist_ok=True)
    out = log.with_suffix(".json")
    out.unlink(missing_ok=True)
    env = procs.flashsight_env(FLASHINFER_WORKSPACE_BASE=str(base))
    argv = [sys.executable, "-m", "flashsight.workloads.jit_probe", family, str(out), str(cfg["repeats"])]
    done = procs.run_logged(argv, log, timeout_s=cfg["timeout_s"], env=env)
    if not done.ok or not out.exists():
        last = [line for line in done.log_tail(30).splitlines() if line.strip()]
        raise WorkloadError(f"jit {family}: probe {done.describe_failure() if not done.ok else 'wrote no record'}: "
                            f"{last[-1] if last else 'no output'} (log: {log})")
    return json.loads(out.read_text())
