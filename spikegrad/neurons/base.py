"""What every neuron kind shares: its constants declared once (:class:`Constant`), their checks,
their model-file form, and the decay <-> time constant conversion (docs/neuron-kinds.md)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from ..checks import _in_range, _is_list, _shown, check_float
from ..errors import BadValueError, ConfigError


@dataclass(frozen=True)
class Constant:
    """One constant of a neuron kind, declared once for its record, the config and the CLI.

    name: the field of the kind's constants record (and its model-file key), e.g. "alpha".
    lo, hi, lo_open, hi_open: the record value's range. per_neuron: it may be an (N,) array
    (one value per neuron) as well as one number per layer.
    option: the config key (and, with "_" -> "-", the CLI option) that sets it for a run;
    default: that option's default, in its units; decay: the option is a time constant tau
    (seconds, > 0) and the record holds the per-step decay exp(-dt / tau); help: one line.
    """

    name: str
    lo: float | None
    hi: float | None
    option: str
    default: float
    help: str
    lo_open: bool = False
    hi_open: bool = False
    per_neuron: bool = False
    decay: bool = False

    def check(self, key: str, value: Any, n: int) -> float | np.ndarray:
        """The record value in its canonical form: a float, or (per_neuron) a host (n,)
        float64 copy. Raises BadValueError naming ``key``."""
        if not (self.per_neuron and _is_list(value)):
            return check_float(
                key, value, self.lo, self.hi, lo_open=self.lo_open, hi_open=self.hi_open
            )
        need = f"a number or {n} numbers{self._range()} (one per neuron)"
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadValueError(key, _shown(value), need) from None
        if a.shape != (n,):
            raise BadValueError(key, _shown(a), need)
        ok = [_in_range(v, self.lo, self.hi, self.lo_open, self.hi_open) for v in a.tolist()]
        if not all(ok):
            i = ok.index(False)
            raise BadValueError(f"{key}[{i}]", float(a[i]), self._range().strip())
        return a.copy()

    def _range(self) -> str:
        lo = "(" if self.lo_open else "["
        hi = ")" if self.hi_open else "]"
        if self.lo is not None and self.hi is not None:
            return f" in {lo}{self.lo:g}, {self.hi:g}{hi}"
        if self.lo is not None:
            return f" {'>' if self.lo_open else '>='} {self.lo:g}"
        return ""

    def from_option(self, value: float, dt: float) -> float:
        """The record value for the option's value (a decay from a time constant and ``dt``)."""
        return math.exp(-dt / value) if self.decay else float(value)


@dataclass(frozen=True)
class Spread:
    """A per-neuron draw of a kind's constant that a run may ask for (a kind's optional
    ``SPREADS``): config key and CLI option ``option`` (a number >= 0, default 0: no draw)
    gives constant ``name`` one value per neuron, ``draw(value, spread, dt, n, rng)`` from
    the constant's option value; it returns the (n,) record values. help: one line."""

    name: str
    option: str
    help: str
    draw: Callable[..., np.ndarray]


class OpNames(NamedTuple):
    """The registered ops of one layer form of a kind (feed-forward or recurrent), with the
    signatures of the LIF ops (``lif_*``, ``rlif_*``): the arrays, then the kind's
    FORWARD_ARGS or ADJOINT_ARGS, then the mode's settings."""

    forward: str
    forward_sparse_spikes: str
    backward_dense: str
    backward_sparse: str


def check_constants(record: Any, constants: tuple[Constant, ...], n: int) -> Any:
    """``record`` with every constant checked for a layer of ``n`` neurons."""
    values = {c.name: c.check(c.name, getattr(record, c.name), n) for c in constants}
    return replace(record, **values)


# ------------------------------------------------------------------------ model-file form
def to_model(record: Any, constants: tuple[Constant, ...], l: int) -> tuple[dict, dict]:
    """A layer's constants as model-file fields: (meta entries, arrays). A per-neuron value
    is stored as the array ``<name>.<l>`` with meta entry null, a number in the meta record."""
    meta: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for c in constants:
        v = getattr(record, c.name)
        if np.ndim(v):
            meta[c.name] = None
            arrays[f"{c.name}.{l}"] = np.asarray(v, np.float64)
        else:
            meta[c.name] = float(v)
    return meta, arrays


def from_model(cls: type, constants: tuple[Constant, ...], entry: dict, arrays: Any, l: int) -> Any:
    """The constants record ``cls`` of layer ``l`` read back from :func:`to_model`'s fields.
    Raises KeyError, TypeError or ValueError on a bad entry (the caller names the file)."""
    values = {}
    for c in constants:
        v = entry[c.name]
        values[c.name] = np.asarray(arrays[f"{c.name}.{l}"], np.float64) if v is None else float(v)
    return cls(**values)


# ------------------------------------------------------------------- decay <-> time constant
def tau_of(alpha: float | np.ndarray, dt: float, what: str) -> np.ndarray:
    """tau = -dt / ln(alpha) per value; alpha must be in (0, 1) (ConfigError naming ``what``).
    Shapes: alpha float or (N,) -> same, float64."""
    a = np.asarray(alpha, np.float64)
    if np.any((a <= 0) | (a >= 1)):
        bad = a[(a <= 0) | (a >= 1)].flat[0]
        raise ConfigError(
            f"{what}: alpha {bad:g} has no NIR time constant (alpha must be in (0, 1))"
        )
    return -dt / np.log(a)
