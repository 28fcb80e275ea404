"""CPU-only NVTX workload for the nsys tests (no GPU needed): the ranges the tests expect to find.

Main thread:  outer (x2) > inner (x2 each)     default domain, push/pop, nested 2 deep
              se_same (x1)                      default domain, start/end on this thread
              se_cross (x1)                     default domain, start/end, ended on thread `helper`
              flashsight.cpu: phase (x1)        named domain, push/pop
Thread helper: flashsight.cpu: helper_work (x3) named domain, push/pop
Every message is a registered string (the nvtx package registers all of them).

`step` is the same kind of work as a sweep's workload (`cpu_nvtx:step`, params n and label): it made the 0.1 run
directory in tests/data/runs/v01_cpu.
"""

import threading
import time

import nvtx
from nvtx._lib.lib import Domain, DomainHandle

DOM = "flashsight.cpu"


def domain(name):
    """nvtx.get_domain, but usable under nsys 2022.4: its NVTX injection predates nvtxDomainIsEnabled, so
    the nvtx package believes no tool is attached and hands out a do-nothing domain."""
    dom = nvtx.get_domain(name)
    if type(dom) is Domain:
        return dom
    dom = object.__new__(Domain)
    dom.handle = DomainHandle(name)
    dom.__init__(name)
    return dom


DEFAULT, NAMED = domain(None), domain(DOM)


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def helper(handoff: dict, go: threading.Event) -> None:
    go.wait(10)
    for _ in range(3):
        NAMED.push_range(message="helper_work")
        busy(0.001)
        NAMED.pop_range()
    DEFAULT.end_range(handoff["cross"])


def main() -> None:
    handoff: dict = {}
    go = threading.Event()
    t = threading.Thread(target=helper, args=(handoff, go), name="helper")
    t.start()
    handoff["cross"] = DEFAULT.start_range(message="se_cross")
    for _ in range(2):
        DEFAULT.push_range(message="outer")
        for _ in range(2):
            DEFAULT.push_range(message="inner")
            busy(0.001)
            DEFAULT.pop_range()
        DEFAULT.pop_range()
    same = DEFAULT.start_range(message="se_same")
    busy(0.001)
    DEFAULT.end_range(same)
    NAMED.push_range(message="phase")
    busy(0.002)
    NAMED.pop_range()
    go.set()
    t.join()


def step(params: dict) -> dict:
    """flashsight.cpu: `step <label>` around n default-domain `inner` ranges; the dict becomes result.json."""
    NAMED.push_range(message=f"step {params['label']}")
    for _ in range(params["n"]):
        DEFAULT.push_range(message="inner")
        busy(0.001)
        DEFAULT.pop_range()
    NAMED.pop_range()
    return {"label": params["label"], "inner_ranges": params["n"]}


if __name__ == "__main__":
    main()
