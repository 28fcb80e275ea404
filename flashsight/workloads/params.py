"""Workload parameters: declared once, validated from strings (CLI), JSON (FLASHSIGHT_PARAMS) or TOML alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flashsight.errors import ParamError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # int, float, str or bool
    default: Any
    help: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None

    def coerce(self, raw: Any) -> Any:
        """Turn raw (a CLI string or a JSON/TOML value) into this parameter's type, or raise ParamError."""
        value = self._convert(raw)
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise ParamError(f"parameter {self.name}={raw!r}: choose one of {allowed}")
        if self.min is not None and value < self.min:
            raise ParamError(f"parameter {self.name}={raw!r}: must be >= {self.min:g}")
        if self.max is not None and value > self.max:
            raise ParamError(f"parameter {self.name}={raw!r}: must be <= {self.max:g}")
        return value

    def _convert(self, raw: Any) -> Any:
        kind = self.type.__name__
        if self.type is bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
                return raw.strip().lower() in _TRUE
            raise ParamError(f"parameter {self.name}={raw!r}: expected true or false")
        if isinstance(raw, bool):  # True is an int in Python; never accept it as a number
            raise ParamError(f"parameter {self.name}={raw!r}: expected {kind}")
        try:
            if self.type is int:
                if isinstance(raw, float) and not raw.is_integer():
                    raise ValueError
                return int(raw) if not isinstance(raw, str) else int(raw.strip().replace("_", ""))
            if self.type is float:
                return float(raw)
            if self.type is str:
                if not isinstance(raw, str):
                    raise ValueError
                return raw.strip()
        except (TypeError, ValueError):
            raise ParamError(f"parameter {self.name}={raw!r}: expected {kind}") from None
        raise TypeError(f"unsupported parameter type {self.type!r}")

    def describe(self) -> dict:
        out = {"name": self.name, "type": self.type.__name__, "default": self.default, "help": self.help}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


@dataclass(frozen=True)
class ParamSpec:
    params: tuple[Param, ...]
    extra: dict = field(default_factory=dict)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def resolve(self, given: dict[str, Any], workload: str) -> dict[str, Any]:
        """Defaults overlaid with the given values, each coerced; unknown names are an error."""
        by_name = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(by_name))
        if unknown:
            raise ParamError(
                f"{workload}: unknown parameter {unknown[0]!r} (known: {', '.join(by_name) or 'none'})"
            )
        return {p.name: (p.coerce(given[p.name]) if p.name in given else p.default) for p in self.params}


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """['batch=128', 'dtype=bfloat16'] -> {'batch': '128', 'dtype': 'bfloat16'}."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(f"parameter {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out
