"""TOML in (``tomllib`` or the ``tomli`` backport) and out (a flat mapping plus one level of
tables: what a :class:`~spikegrad.train.config.TrainConfig` needs)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import ConfigError


def loads_toml(text: str) -> dict[str, Any]:
    """Parse TOML with ``tomllib`` (Python >= 3.11) or the ``tomli`` backport."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError(
                "reading TOML on Python 3.10 needs 'tomli' (pip install tomli)"
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from None


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {type(v).__name__} value {v!r} as TOML")


def dumps_toml(d: dict[str, Any]) -> str:
    """Write a flat mapping plus one level of tables (dict values) as TOML."""
    top = [f"{_key(k)} = {_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    tables = [
        "\n".join([f"[{_key(k)}]", *(f"{_key(a)} = {_value(b)}" for a, b in v.items())])
        for k, v in d.items()
        if isinstance(v, dict)
    ]
    return "\n\n".join(["\n".join(top), *tables]) + "\n"
