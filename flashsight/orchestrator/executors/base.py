"""The executor seam: where a sweep's claimed jobs run. Shaped like submitit's `Executor` (one interface, sibling
backends): `local` runs them on this machine, one worker thread per GPU; `slurm` submits them as Slurm tasks
through submitit and watches them.

Whatever the backend, the sweep's driver (this process) is the only writer of sweep.db: a job's attempt is
settled through its outcome.json (written with the attempt's token, runner.settle) and the store.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from flashsight.orchestrator.runner import Sweep


class Executor(ABC):
    name: ClassVar[str]

    @abstractmethod
    def start(self, sweep: "Sweep") -> list[threading.Thread]:
        """Start driving the sweep's pending jobs to an end, in threads of this process that return when nothing
        is left or sweep.abort is set (the progress display waits on them)."""

    def keeps(self, job: dict) -> bool:
        """On --resume, for a job a dead driver left `running`: True when this executor settles it itself (its
        task may still live on a cluster) instead of recover() making it pending again."""
        return False

    def describe(self) -> dict:
        """What a --resume without --executor needs to continue the same way (kept in the store's meta)."""
        return {"name": self.name}


def get_executor(name: str, **params) -> Executor:
    """An executor by name: local (params: gpus) or slurm (params: slurm.SlurmOptions' fields)."""
    from flashsight.errors import ParamError

    if name == "local":
        from flashsight.orchestrator.executors.local import LocalExecutor

        unknown = set(params) - {"gpus"}
        if unknown:
            names = ", ".join(sorted("--" + u.replace("_", "-") for u in unknown))
            raise ParamError(f"--executor local takes no {names} (those are Slurm options: add --executor slurm)")
        return LocalExecutor(gpus=params.get("gpus"))
    if name == "slurm":
        from flashsight.orchestrator.executors.slurm import SlurmExecutor, SlurmOptions

        if params.pop("gpus", None):
            raise ParamError("--gpus picks GPUs of this machine (--executor local); on Slurm use --gpus-per-task")
        return SlurmExecutor(SlurmOptions(**params))
    raise ParamError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")


EXECUTORS = ("local", "slurm")
