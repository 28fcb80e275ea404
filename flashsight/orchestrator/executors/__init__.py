"""Where a sweep's jobs run: `local` (threads per GPU of this machine, the default) or `slurm` (Slurm tasks through
submitit). See base.py for the seam."""

from flashsight.orchestrator.executors.base import EXECUTORS, Executor, get_executor

__all__ = ["EXECUTORS", "Executor", "get_executor"]
