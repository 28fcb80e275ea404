"""Users' own workloads: a Python file, or `package.module:function`, run under the same contract as built-ins.

Contract (what the workload process gets and may give back):
  FLASHSIGHT_PARAMS   the config as a JSON object (-p k=v values that read as JSON arrive typed: 128, true;
                      a plan's values arrive as the TOML typed them: "1e3" stays a string)
  FLASHSIGHT_JOB_DIR  the job's directory; write result.json there if you like
  FLASHSIGHT_PROFILER "nsys", "ncu" or empty
The workload marks its measured work with NVTX ranges itself; `profile --nvtx-include` selects them for ncu.

A file runs as `python FILE`. A function runs through this module, `python -m flashsight.workloads.external
pkg.mod:fn [--sys-path DIR ...]`: it imports pkg.mod, calls fn(params) (or fn() when fn takes no argument)
and, when fn returns a dict and nothing wrote result.json, writes the dict as result.json.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from flashsight.errors import FlashsightError, InputError, ParamError

_FUNCTION_SPEC = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_function_spec(workload: str) -> bool:
    """'pkg.mod:fn' (dotted names on both sides of one colon)."""
    return bool(_FUNCTION_SPEC.match(workload))


def is_python_file(workload: str) -> bool:
    return workload.endswith(".py")


def decode_params(given: dict[str, Any]) -> dict[str, Any]:
    """`-p` strings that are exactly a JSON value become typed ('128' -> 128, 'true' -> true); others stay text
    (' 7 ', 'NaN', 'abc'). Only for command-line strings: a plan's values are already typed and pass as they are."""
    out: dict[str, Any] = {}
    for name, value in given.items():
        if isinstance(value, str) and value == value.strip():
            try:
                value = json.loads(value, parse_constant=_no_constant)
            except ValueError:
                pass
        out[name] = value
    return out


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: json.loads accepts them, JSON does not


def load_function(spec: str):
    """Import 'pkg.mod:fn' and return fn; a missing module or attribute is a one-line error."""
    module_name, _, attr_path = spec.partition(":")
    import importlib

    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ParamError(f"{spec}: no module named {exc.name!r} (is it on PYTHONPATH?)") from None
        raise  # the user's module failed to import one of its own dependencies: their traceback helps
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ParamError(f"{spec}: {module_name} has no attribute {attr_path!r}") from None
    if not callable(target):
        raise ParamError(f"{spec}: {attr_path} is not callable")
    return target


def call_function(fn, params: dict) -> Any:
    """fn(params) when fn accepts an argument, else fn()."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: give them the params
        return fn(params)
    takes_one = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                    for p in signature.parameters.values())
    return fn(params) if takes_one else fn()


def main(argv: list[str] | None = None) -> int:
    from flashsight.host.files import write_json
    from flashsight.schema.contract import JOB_DIR_ENV
    from flashsight.schema.layout import RESULT_FILE
    from flashsight.workloads.harness import params_from_env

    argv = sys.argv[1:] if argv is None else argv
    if not argv or not is_function_spec(argv[0]) or len(argv) % 2 != 1 or set(argv[1::2]) - {"--sys-path"}:
        print("usage: python -m flashsight.workloads.external pkg.mod:fn [--sys-path DIR ...]", file=sys.stderr)
        return 2
    for path in reversed(argv[2::2]):
        sys.path.insert(0, path)
    try:
        fn = load_function(argv[0])
        returned = call_function(fn, params_from_env())
    except FlashsightError as exc:
        print(f"flashsight: error: {exc}", file=sys.stderr)
        return exc.exit_code
    job_dir = os.environ.get(JOB_DIR_ENV)
    if isinstance(returned, dict) and job_dir and not (Path(job_dir) / RESULT_FILE).exists():
        write_json(returned, Path(job_dir) / RESULT_FILE)
    return 0


def require_file(path: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise InputError(f"{path}: no such file")
    return resolved


if __name__ == "__main__":
    sys.exit(main())
