"""`config_id`: the stable key of one workload config, without the tool.

It joins the nsys and ncu jobs of one config within a run, and the same config across runs of different days:
a hash of the workload name and its resolved parameters (JSON, keys sorted), nothing else.
"""

from __future__ import annotations

import hashlib
import json


def config_id(workload: str, params: dict) -> str:
    key = json.dumps({"workload": workload, "params": params}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]
