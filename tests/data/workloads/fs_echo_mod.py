"""User workloads as package.module:function, for the contract tests (imported from the caller's directory)."""
import sys


def add(params):
    return {"got": params, "sum": params["a"] + params["b"]}


def quiet():
    print("ran without params and returned nothing")


def crash(params):
    sys.exit(3)
