"""Typed, range-checked settings: the one set of value checks behind the config record,
the CLI options and the library's constructors (``Network``, ``Adam``).

The ranges of the numeric settings are declared once, in :data:`RANGES`; the config checks
its fields with :func:`check_setting`, the constructors call it with their argument names,
and the CLI builds its option types and help from the same records.

Each checker returns the value in its canonical type or raises :class:`BadValueError`
naming the setting, what it must be and the value given. Booleans are not numbers here
(``epochs = true`` is refused) and integers must be integers (``epochs = 2.5`` is refused,
not truncated); NaN is refused everywhere and infinity unless ``inf_ok``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import BadValueError, ConfigError

SEED_MAX = 2**63 - 1  # seeds are written to TOML, whose integers are signed 64-bit
MODES = ("dense", "sparse")  # the gradient modes of Network.loss_and_grad
DTYPES = ("float32", "float64")  # the training dtypes
# what the kernels read the weights as: the float32 master, or a 16-bit copy (ops/half)
WEIGHT_DTYPES = ("float32", "float16", "bfloat16")


def _is_list(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _bound(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi:g}"
    return ""


def _in_range(v: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> bool:
    return (lo is None or (v > lo if lo_open else v >= lo)) and (
        hi is None or (v < hi if hi_open else v <= hi)
    )


def check_int(key: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in [lo, hi] (Python or NumPy integer; bool and float refused)."""
    need = "an integer" + _bound(lo, hi, False, False)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadValueError(key, value, need)
    value = int(value)
    if not _in_range(value, lo, hi, False, False):
        raise BadValueError(key, value, need)
    return value


def check_float(
    key: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    inf_ok: bool = False,
) -> float:
    """``value`` as a float in the range (any real number type; bool, NaN and, unless
    ``inf_ok``, infinity refused)."""
    need = ("a number" if inf_ok else "a finite number") + _bound(lo, hi, lo_open, hi_open)
    if inf_ok:
        need += " (inf allowed)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadValueError(key, value, need)
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not inf_ok):
        raise BadValueError(key, value, need)
    if not _in_range(value, lo, hi, lo_open, hi_open):
        raise BadValueError(key, value, need)
    return value


def check_bool(key: str, value: Any) -> bool:
    """``value`` if it is a bool (0/1 and strings refused)."""
    if not isinstance(value, bool):
        raise BadValueError(key, value, "true or false")
    return value


def check_str(key: str, value: Any) -> str:
    """``value`` if it is a string."""
    if not isinstance(value, str):
        raise BadValueError(key, value, "a string")
    return value


def check_choice(key: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise BadValueError(key, value, f"one of {', '.join(choices)}")
    return value


def check_weight_dtype(weight_dtype: str, dtype: str) -> None:
    """ConfigError unless ``weight_dtype`` is float32 or the training dtype is float32 (a 16-bit
    weight copy has a float32 master)."""
    if weight_dtype != "float32" and dtype != "float32":
        raise ConfigError(
            f"weight_dtype {weight_dtype!r} needs dtype 'float32' (16-bit copies of float32 "
            f"weights); got dtype {dtype!r}"
        )


def check_seed(key: str, value: Any) -> int:
    """A random seed: an integer in [0, 2**63 - 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not (0 <= value <= SEED_MAX)
    ):
        raise BadValueError(key, value, "an integer >= 0 (below 2**63)")
    return int(value)


def check_sizes(
    key: str, value: Any, min_len: int = 1, example: str = "[200, 200]"
) -> tuple[int, ...]:
    """A list of at least ``min_len`` layer sizes, each an integer >= 1."""
    need = f"a list of >= {min_len} integers >= 1, e.g. {example}"
    if not _is_list(value) or len(value) < min_len:
        raise BadValueError(key, value, need)
    for n in value:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise BadValueError(key, list(value), need)
    return tuple(int(n) for n in value)


class _Shown(str):
    """A value's description, shown without quotes in an error message."""

    def __repr__(self) -> str:
        return str(self)


def _shown(value: Any) -> Any:
    """``value`` for a one-line message: itself if a short flat list or a scalar, else a
    description (an array's repr spans lines)."""
    if isinstance(value, np.ndarray):
        return _Shown(f"an array of shape {value.shape}")
    if _is_list(value) and (len(value) > 8 or any(_is_list(v) for v in value)):
        return _Shown(f"a list of {len(value)} entries")
    return value


def check_per_layer_bools(key: str, value: Any, n: int) -> list[bool]:
    """One bool for all ``n`` layers, or a list of ``n`` bools (one per layer)."""
    need = f"true, false or a list of {n} of them (one per hidden layer)"
    if isinstance(value, (bool, np.bool_)):
        return [bool(value)] * n
    if not _is_list(value) or len(value) != n:
        raise BadValueError(key, _shown(value), need)
    if not all(isinstance(v, (bool, np.bool_)) for v in value):
        raise BadValueError(key, _shown(value), need)
    return [bool(v) for v in value]


def check_alphas(key: str, value: Any, sizes: Sequence[int]) -> list[float | np.ndarray]:
    """Decays in [0, 1] of the layers of ``sizes``: one number for all, or a list with one
    entry per layer, each a number or an array of that layer's size (one per neuron).

    Returns a float or a host (N_l,) float64 array per layer.
    """
    if not _is_list(value):
        return [check_float(key, value, 0, 1)] * len(sizes)
    if len(value) != len(sizes):
        need = f"a number or a list of {len(sizes)} (one per hidden layer)"
        raise BadValueError(key, _shown(value), need)
    out: list[float | np.ndarray] = []
    for l, (v, n) in enumerate(zip(value, sizes, strict=True), start=1):
        if not _is_list(v):
            out.append(check_float(f"{key}[{l}]", v, 0, 1))
            continue
        need = f"a number or {n} numbers in [0, 1] (one per neuron of hidden layer {l})"
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadValueError(f"{key}[{l}]", _shown(v), need) from None
        if a.shape != (n,):
            raise BadValueError(f"{key}[{l}]", _shown(a), need)
        bad = np.flatnonzero(~((a >= 0) & (a <= 1)))
        if bad.size:
            raise BadValueError(f"{key}[{l}][{bad[0]}]", float(a[bad[0]]), "in [0, 1]")
        out.append(a.copy())
    return out


def check_betas(key: str, value: Any) -> tuple[float, float]:
    """Adam's two decay rates, each a finite number in [0, 1)."""
    need = "two numbers in [0, 1), e.g. [0.9, 0.999]"
    if not _is_list(value) or len(value) != 2:
        raise BadValueError(key, value, need)
    try:
        return tuple(check_float(key, b, 0, 1, hi_open=True) for b in value)  # type: ignore[return-value]
    except BadValueError:
        raise BadValueError(key, list(value), need) from None


def check_table(key: str, value: Any) -> dict[str, Any]:
    """A copy of ``value`` if it is a dict (a TOML table)."""
    if not isinstance(value, dict):
        raise BadValueError(key, value, "a table (dict) of settings")
    return dict(value)


def check_reg_values(key: str, value: Any) -> dict[str, float]:
    """The regulariser's constants: a table of finite numbers >= 0 (keys checked by
    ``RegParams.from_dict``)."""
    return {k: check_float(f"{key}.{k}", v, 0) for k, v in check_table(key, value).items()}


@dataclass(frozen=True)
class Range:
    """The range of one numeric setting: bounds (None: open-ended), whether each bound is
    excluded, whether infinity is allowed (floats) and whether it is an integer."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    inf_ok: bool = False
    integer: bool = False

    def check(self, key: str, value: Any) -> float | int:
        """``value`` in its canonical type, or :class:`BadValueError` naming ``key``."""
        if self.integer:
            return check_int(key, value, self.lo, self.hi)  # type: ignore[arg-type]
        kw = {"lo_open": self.lo_open, "hi_open": self.hi_open, "inf_ok": self.inf_ok}
        return check_float(key, value, self.lo, self.hi, **kw)

    def describe(self) -> str:
        """The range in words, e.g. "a finite number > 0" or "an integer >= 1"."""
        if self.integer:
            return "an integer" + _bound(self.lo, self.hi, False, False)
        what = "a number" if self.inf_ok else "a finite number"
        bound = _bound(self.lo, self.hi, self.lo_open, self.hi_open)
        return what + bound + (" (inf allowed)" if self.inf_ok else "")


_POSITIVE = Range(0, lo_open=True)
_NON_NEGATIVE = Range(0)
_COUNT = Range(1, integer=True)
_COUNT0 = Range(0, integer=True)

# Every numeric setting's range, declared once (the config's fields, Network's and Adam's
# arguments, the data sets' encoding options, the CLI's options). The neuron kinds' options
# (tau_mem, ...) are declared by their kinds (spikegrad.neurons, Constant); "threshold" here
# is the short form Network(threshold=...). lr_min also stays below lr
# (a check across fields, in the config).
RANGES: dict[str, Range] = {
    "limit": _COUNT0,
    "val_fraction": Range(0, 1, hi_open=True),
    "dt": _POSITIVE,
    "T": _COUNT,  # time steps of an encoding
    "tau_out": _POSITIVE,
    "alpha_out": Range(0, 1, hi_open=True),
    "threshold": _POSITIVE,
    "b_th": Range(0, lo_open=True, inf_ok=True),
    "surrogate_scale": _NON_NEGATIVE,
    "epochs": _COUNT,
    "batch_size": _COUNT,
    "lr": _POSITIVE,
    "eps": _POSITIVE,
    "lr_min": _NON_NEGATIVE,
    "lr_step_epochs": _COUNT,
    "lr_gamma": Range(0, 1, lo_open=True),
    "warmup_epochs": _COUNT0,
    "weight_decay": _NON_NEGATIVE,
    "clip_grad_norm": _NON_NEGATIVE,
    "patience": _COUNT0,
}


def check_setting(key: str, value: Any, setting: str | None = None) -> float | int:
    """``value`` checked against the declared range of ``setting`` (default ``key``); the
    error names ``key`` (e.g. Adam's ``max_grad_norm`` is the setting clip_grad_norm)."""
    return RANGES[setting or key].check(key, value)
