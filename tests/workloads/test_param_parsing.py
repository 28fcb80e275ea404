import pytest

from flashsight.errors import ParamError
from flashsight.workloads import get_workload
from flashsight.schema.contract import ncu_nvtx_filter, range_name
from flashsight.workloads.params import Param, parse_assignments


def test_strings_from_the_cli_are_coerced_to_declared_types():
    cfg = get_workload("rmsnorm").resolve({"batch": "512", "hidden": "8_192", "dtype": "bfloat16"})
    assert cfg == {"batch": 512, "hidden": 8192, "dtype": "bfloat16", "op": "rmsnorm", "eps": 1e-6}


@pytest.mark.parametrize("given, message", [
    ({"batch": "x"}, "parameter batch='x': expected int"),
    ({"batch": 0}, "parameter batch=0: must be >= 1"),
    ({"batch": 2.5}, "parameter batch=2.5: expected int"),
    ({"batch": True}, "parameter batch=True: expected int"),
    ({"dtype": "float64"}, "parameter dtype='float64': choose one of float16, bfloat16"),
    ({"heads": 8}, "rmsnorm: unknown parameter 'heads' (known: batch, hidden, dtype, op, eps)"),
])
def test_invalid_parameters_name_the_problem(given, message):
    with pytest.raises(ParamError) as exc:
        get_workload("rmsnorm").resolve(given)
    assert str(exc.value) == message


def test_bool_params_accept_the_usual_spellings():
    flag = Param("causal", bool, True)
    assert [flag.coerce(v) for v in ("true", "0", "Yes", False)] == [True, False, True, False]
    with pytest.raises(ParamError):
        flag.coerce("maybe")


def test_assignments_need_an_equals_sign():
    assert parse_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ParamError, match="expected NAME=VALUE"):
        parse_assignments(["batch"])


def test_measured_range_name_is_deterministic_and_filter_safe():
    cfg = get_workload("rmsnorm").resolve({"batch": 128})
    name = range_name("rmsnorm", cfg)
    assert name == "rmsnorm batch=128 hidden=4096 dtype=float16 op=rmsnorm eps=1e-06"
    assert ncu_nvtx_filter("rmsnorm", cfg) == f"flashsight@{name}/"
    assert range_name("x", {"path": "a/b@c[1],*"}) == "x path=a_b_c_1___"


def test_unknown_workload_lists_the_builtins():
    with pytest.raises(ParamError, match="unknown workload 'nope' \\(built-in: .*rmsnorm"):
        get_workload("nope")
