"""A tiny user workload for the contract tests: reads FLASHSIGHT_PARAMS, writes result.json into FLASHSIGHT_JOB_DIR."""
import json
import os
import pathlib

params = json.loads(os.environ["FLASHSIGHT_PARAMS"])
job_dir = pathlib.Path(os.environ["FLASHSIGHT_JOB_DIR"])
result = {"params": params, "doubled": params["x"] * 2, "profiler": os.environ["FLASHSIGHT_PROFILER"]}
(job_dir / "result.json").write_text(json.dumps(result))
