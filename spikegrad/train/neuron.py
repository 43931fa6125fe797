"""The neuron settings of a run, taken from the kind registry (:mod:`spikegrad.neurons`).

A config names a kind per hidden layer (``neuron``: one name for every layer, or one per
layer) and holds one value, or one per hidden layer, of every neuron option. The options are
the union over the registered kinds (one entry per option name, so an option two kinds share,
e.g. ``tau_mem``, is one setting): each ``Constant.option`` of a kind's ``CONSTANTS``, and
each ``Spread.option`` of its optional ``SPREADS`` (a per-neuron draw of a constant, e.g.
``tau_mem_spread``). Nothing here names a kind: a kind registered from outside the package
gets its config keys, CLI options and layers without a change to ``spikegrad.train``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np

from .. import neurons
from ..checks import Range, _is_list, _shown
from ..errors import BadValueError
from ..layers import Hidden
from ..neurons.base import Constant, Spread

KEY = "neuron"  # the config key (and CLI option) naming the layers' kinds
DRAW_SEED = 2  # the stream of the per-neuron draws: SeedSequence([seed, 2])


@dataclass(frozen=True)
class Option:
    """One neuron option of a run: config key, default, range and help; ``kinds``: the
    registered kinds that use it; ``constant``: the constant it sets (for a spread: the
    constant drawn per neuron); ``spread``: the per-neuron draw it controls, if any."""

    key: str
    default: float
    range: Range
    help: str
    kinds: tuple[str, ...]
    constant: Constant
    spread: Spread | None = None


def _option_range(c: Constant) -> Range:
    """The option's range: a time constant > 0 for a decay, else the constant's own."""
    if c.decay:
        return Range(0, lo_open=True)
    return Range(c.lo, c.hi, c.lo_open, c.hi_open)


def options() -> dict[str, Option]:
    """Every neuron option of the registered kinds, by key, in registry order (a kind's
    constants in their order, a spread after its constant); the first declaration of a
    shared option gives its default, range and help."""
    out: dict[str, Option] = {}

    def add(o: Option) -> None:
        old = out.get(o.key)
        out[o.key] = o if old is None else replace(old, kinds=(*old.kinds, *o.kinds))

    for kind in neurons.KINDS.values():
        for c in kind.CONSTANTS:
            add(Option(c.option, c.default, _option_range(c), c.help, (kind.NAME,), c))
            for s in getattr(kind, "SPREADS", ()):
                if s.name == c.name:
                    add(Option(s.option, 0.0, Range(0), s.help, (kind.NAME,), c, s))
    return out


# ----------------------------------------------------------------------------------- checks
def check_kinds(key: str, value: Any, n: int) -> str | tuple[str, ...]:
    """A registered kind's name for every one of ``n`` hidden layers, or a list of ``n``
    (one per layer); kept as given. BadValueError naming ``key`` and the known kinds."""
    known = tuple(neurons.KINDS)
    need = f"one of {', '.join(known)}, or a list of {n} of them (one per hidden layer)"
    if isinstance(value, str) and value in known:
        return value
    if _is_list(value) and len(value) == n and all(isinstance(v, str) for v in value):
        if all(v in known for v in value):
            return tuple(value)
    raise BadValueError(key, _shown(value), need)


def check_value(o: Option, value: Any, n: int) -> float | tuple[float, ...]:
    """Option ``o``'s value: one number in its range, or a list of ``n`` (one per hidden
    layer, kept as a tuple). BadValueError naming the option."""
    if not _is_list(value):
        return o.range.check(o.key, value)
    if len(value) != n:
        need = f"{o.range.describe()}, or a list of {n} of them (one per hidden layer)"
        raise BadValueError(o.key, _shown(value), need)
    return tuple(o.range.check(o.key, v) for v in value)


def per_layer(value: Any, n: int) -> tuple:
    """A setting's value for each of ``n`` layers (one value repeated, or the list)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


# ------------------------------------------------------------------------------ the layers
def layer_kinds(config: Any) -> list[ModuleType]:
    """The kind module of each hidden layer of ``config``."""
    return [neurons.get(k) for k in per_layer(config.neuron, len(config.hidden))]


def _used(kinds: list[ModuleType]) -> set[str]:
    return {c.option for k in kinds for c in k.CONSTANTS} | {
        s.option for k in kinds for s in getattr(k, "SPREADS", ())
    }


def hidden_layers(config: Any, saved: list[dict[str, Any]] | None = None) -> list[Hidden]:
    """The hidden layer records of ``config``: per layer its kind's ``RECORD`` with every
    constant from its option's value for that layer (a decay from a time constant and
    ``dt``), or, where the kind's spread option of the constant is > 0, one value per neuron
    drawn from the run's seed (a stream of its own, layer by layer: the weights' initial
    values do not change). ``saved``: per layer, record values that replace the config's
    (a checkpoint's; nothing is drawn for them)."""
    n_layers = len(config.hidden)
    rng = None
    layers = []
    for l, (n, kind, rec) in enumerate(
        zip(config.hidden, layer_kinds(config), config.recurrent_layers, strict=True)
    ):
        spreads = {s.name: s for s in getattr(kind, "SPREADS", ())}
        values: dict[str, Any] = {}
        for c in kind.CONSTANTS:
            if saved is not None and c.name in saved[l]:
                values[c.name] = saved[l][c.name]
                continue
            v = per_layer(getattr(config, c.option), n_layers)[l]
            s = spreads.get(c.name)
            spread = per_layer(getattr(config, s.option), n_layers)[l] if s else 0.0
            if spread:
                if rng is None:
                    rng = np.random.default_rng(np.random.SeedSequence([config.seed, DRAW_SEED]))
                values[c.name] = s.draw(v, spread, config.dt, n, rng)
            else:
                values[c.name] = c.from_option(v, config.dt)
        layers.append(Hidden(n, kind.RECORD(**values), recurrent=rec))
    return layers


def same_layers(a: list[Hidden], b: list[Hidden]) -> bool:
    """Equal hidden layers: sizes, kinds, recurrence and every constant (a number equals
    an array of that one value)."""

    def same(x: Any, y: Any) -> bool:
        x, y = np.asarray(x), np.asarray(y)
        return (x.shape == y.shape or 0 in (x.ndim, y.ndim)) and bool(np.all(x == y))

    return len(a) == len(b) and all(
        (p.n, p.kind, p.recurrent) == (q.n, q.kind, q.recurrent)
        and all(
            same(getattr(p.neuron, c.name), getattr(q.neuron, c.name)) for c in p.kind.CONSTANTS
        )
        for p, q in zip(a, b, strict=True)
    )


# ------------------------------------------------------------------------- what a run shows
def record_value(config: Any, name: str) -> Any:
    """The record value of constant ``name`` from its option (e.g. "alpha" from tau_mem
    and dt): a float, or a tuple per hidden layer. AttributeError if no option sets it."""
    for o in options().values():
        if o.spread is None and o.constant.name == name:
            v = getattr(config, o.key)
            if isinstance(v, tuple):
                return tuple(o.constant.from_option(x, config.dt) for x in v)
            return o.constant.from_option(v, config.dt)
    raise AttributeError(f"'TrainConfig' object has no attribute {name!r}")


def _values(v: Any, scale: float = 1.0, fmt: str = "g") -> str:
    return "/".join(f"{x * scale:{fmt}}" for x in per_layer(v, 1))


def summary(config: Any) -> dict[str, Any]:
    """The neuron settings the layers use: ``neuron``, each option's value and, for a
    decay, the record value under the constant's name (e.g. tau_mem and alpha)."""
    kinds = layer_kinds(config)
    used = _used(kinds)
    out: dict[str, Any] = {KEY: config.neuron}
    for key, o in options().items():
        if key in used:
            out[key] = getattr(config, key)
            if o.constant.decay and o.spread is None:
                out[o.constant.name] = record_value(config, o.constant.name)
    return out


def describe(config: Any) -> str:
    """One line: the layers' kinds and the options they use, e.g. "lif: tau_mem 10 ms
    (alpha 0.904837), threshold 1" (a spread only when > 0)."""
    parts = []
    for key, v in summary(config).items():
        o = options().get(key)
        if o is None:  # the neuron key or a record value
            continue
        if o.spread is not None:
            if any(per_layer(v, 1)):
                parts.append(f"{key} {_values(v)}")
        elif o.constant.decay:
            a = _values(record_value(config, o.constant.name), fmt=".6f")
            parts.append(f"{key} {_values(v, 1e3)} ms ({o.constant.name} {a})")
        else:
            parts.append(f"{key} {_values(v)}")
    return f"{'/'.join(per_layer(config.neuron, 1))}: {', '.join(parts)}"


def unused(config: Any) -> list[str]:
    """Notes on options set away from their default that no hidden layer's kind uses
    (they are kept in the config and ignored)."""
    kinds = layer_kinds(config)
    used = _used(kinds)
    names = ", ".join(dict.fromkeys(k.NAME for k in kinds))
    out = []
    for key, o in options().items():
        v = getattr(config, key)
        if key not in used and any(x != o.default for x in per_layer(v, 1)):
            out.append(
                f"{key} {_values(v)} is ignored: no hidden layer is of a kind that uses it "
                f"({', '.join(o.kinds)}; the layers are {names})"
            )
    return out
