"""File and folder names of the run directory (sweep or profile) and of each job directory: one place for all.

Run directory (sweep):
    sweep.db                the job state (orchestrator/state.py)     plan.toml   the plan as last given
    env.json                the machine (env.resume-<time>.json for each resume)
    jobs.parquet            one row per job;  <table>.parquet: each canonical table merged over all jobs
    jobs/<job>/             one job (below)
    batches/<id>/           one batched process: batch.json, job.log, the capture, the whole batch's tables
    slurm/<task>/           --executor slurm: submitit's files of one Slurm task (pickles, <task>_0_log.out)
    report/                 report.md, report.html and their figures
Job directory (also what `flashsight profile` writes):
    job.log  job.json  result.json  outcome.json  conditions.json  profile.{nsys-rep,qdstrm,sqlite,ncu-rep}
    <table>.parquet
    capture/                a job run alone: the tables of its whole capture (set-up and warm-up included)
"""

from pathlib import Path

STATE_FILE = "sweep.db"  # not *.sqlite: that suffix is an nsys export everywhere else
PLAN_FILE = "plan.toml"
ENV_FILE = "env.json"
JOBS_TABLE = "jobs"
JOBS_DIR = "jobs"
BATCHES_DIR = "batches"
SLURM_DIR = "slurm"
REPORT_DIR = "report"

LOG_FILE = "job.log"
JOB_FILE = "job.json"  # what ran, how it ended, which tables it produced (written by every job)
RESULT_FILE = "result.json"  # the workload's own timing, rates and correctness (written by the workload)
CONDITIONS_FILE = "conditions.json"  # the GPU's state before/after the job and the tool's clock/cache control
OUTCOME_FILE = "outcome.json"  # a sweep job's settled outcome with its attempt's token (adopted on resume)
REPORT_STEM = "profile"  # profile.nsys-rep, profile.ncu-rep, ...
CAPTURE_DIR = "capture"
BATCH_FILE = "batch.json"  # a batch's configs
BATCH_STATUS_FILE = "batch_config.json"  # per job directory: how that config ended inside the batch

# The run shipped inside the package (its tables only): `flashsight report --sample`, flashsight.sample().
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample"
