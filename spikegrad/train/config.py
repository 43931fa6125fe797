"""The training settings: one frozen record, checked field by field, and where it comes from.

A :class:`TrainConfig` holds everything a run needs; ``config.toml`` in a run folder is its
:meth:`TrainConfig.to_toml`, so ``spikegrad train --config run/config.toml`` reruns it.
Precedence of ``spikegrad train``: options > ``--config`` file > preset
(:mod:`spikegrad.train.presets`, the paper's settings, PAPER.md §3). Numeric fields are
checked against their one declared range (``spikegrad.checks.RANGES``). The neuron settings
come from the kind registry (:mod:`spikegrad.train.neuron`): ``neuron`` names each hidden
layer's kind, and every option of the registered kinds (``tau_mem``, ``threshold``,
``tau_mem_spread``, ...) is a config key with its kind's default and range, one value or one
per hidden layer. The readout's decay is alpha_out = exp(-dt / tau_out).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import BACKENDS
from ..checks import (
    DTYPES,
    MODES,
    RANGES,
    WEIGHT_DTYPES,
    check_betas,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_per_layer_bools,
    check_reg_values,
    check_seed,
    check_setting,
    check_sizes,
    check_str,
    check_table,
    check_weight_dtype,
)
from ..datasets.augment import Augment
from ..datasets.registry import DATASETS as _REGISTRY
from ..errors import BadValueError, ConfigError
from ..layers import INITS
from ..loss import RegParams
from ..ops.readout import READOUTS
from ..optim import SCHEDULES
from . import neuron as kinds
from .presets import PRESETS, REG, preset_note, preset_settings
from .toml import dumps_toml, loads_toml

DATASETS = tuple(_REGISTRY)  # the data set names, in the registry's order


@dataclass(frozen=True, init=False)
class TrainConfig:
    """Every setting of a training run (times in seconds), all given by keyword.

    ``data_dir`` "" means the default data root; ``limit`` 0 means every training sample
    (else a seeded random subset of that many, taken before the validation split);
    ``reg`` None switches the spike-count regulariser off; ``recurrent`` is true (every
    hidden layer recurrent), false, or one bool per hidden layer; ``neuron`` a registered
    neuron kind for every hidden layer, or one per layer. The neuron kinds' options
    (:func:`spikegrad.train.neuron.options`) are keys and attributes like the fields (held in
    ``kind_options``), e.g. ``tau_mem``, ``threshold``, ``tau_mem_spread``; a constant's
    record value is an attribute too (``alpha``: exp(-dt / tau_mem)). ``encoding``
    is passed to ``spikegrad.datasets.load`` unchanged, for training and evaluation alike
    (its ``dt``, where it has one, follows ``dt``: one time step). Training extras:
    ``lr_schedule``
    (constant, cosine down to ``lr_min`` over the run, or step: times ``lr_gamma`` every
    ``lr_step_epochs``), ``warmup_epochs`` of linear warm-up, ``weight_decay`` (decoupled,
    AdamW), ``clip_grad_norm`` (global norm; 0: off), ``patience`` (stop after that many
    epochs without a better validation accuracy; 0: off), ``augment`` (a table of
    :class:`~spikegrad.datasets.augment.Augment`'s ``shift``, ``time_shift``, ``drop``; empty:
    none). ``val_speaker`` (FSDD): the
    validation slice is every recording of that speaker instead of a seeded ``val_fraction``
    (which must still be > 0: it switches validation on).
    """

    dataset: str = "synthetic"
    preset: str = "tuned"
    data_dir: str = ""
    encoding: dict[str, Any] = field(default_factory=dict)
    limit: int = 0
    val_fraction: float = 0.25
    val_speaker: str = ""
    hidden: tuple[int, ...] = (128, 128)
    recurrent: bool | tuple[bool, ...] = False
    neuron: str | tuple[str, ...] = "lif"
    dt: float = 1e-3
    tau_out: float = 10e-3
    b_th: float = 0.2
    surrogate_scale: float = 100.0
    readout: str = "max"
    init: str = "normal"
    reg: dict[str, float] | None = field(default_factory=lambda: dict(REG))
    grad: str = "sparse"
    epochs: int = 12
    batch_size: int = 64
    drop_last: bool = False
    lr: float = 5e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lr_schedule: str = "constant"
    lr_min: float = 0.0
    lr_step_epochs: int = 10
    lr_gamma: float = 0.1
    warmup_epochs: int = 0
    weight_decay: float = 0.0
    augment: dict[str, Any] = field(default_factory=dict)
    clip_grad_norm: float = 0.0
    patience: int = 0
    dtype: str = "float32"
    weight_dtype: str = "float32"
    backend: str = "auto"
    seed: int = 0
    kind_options: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **settings: Any) -> None:
        """Every field and neuron option by keyword (the others keep their defaults)."""
        _check_keys(settings, internal=True)
        options = dict(settings.pop("kind_options", None) or {})
        for f in fields(self):
            if f.name == "kind_options":
                continue
            if f.name in settings:
                value = settings.pop(f.name)
            else:
                value = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            object.__setattr__(self, f.name, value)
        options.update(settings)  # what is left: the neuron kinds' options
        object.__setattr__(self, "kind_options", options)
        self.__post_init__()

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in ("neuron", "kind_options"):
                continue  # checked below, against the number of hidden layers
            check = check_setting if f.name in RANGES else _CHECKS.get(f.name)
            check = check or _BY_TYPE.get(str(f.type))
            if check is not None:
                object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))
        if self.encoding.get("dt", self.dt) != self.dt:
            raise ConfigError("config: encoding.dt must equal dt")
        check_weight_dtype(self.weight_dtype, self.dtype)
        if self.lr_min >= self.lr:
            need = f"a finite number in [0, lr) (lr {self.lr:g})"
            raise BadValueError("lr_min", self.lr_min, need)
        rec = check_per_layer_bools("recurrent", self.recurrent, len(self.hidden))
        one = isinstance(self.recurrent, (bool, np.bool_))  # kept as given: one, or per layer
        object.__setattr__(self, "recurrent", bool(self.recurrent) if one else tuple(rec))
        n = len(self.hidden)
        object.__setattr__(self, "neuron", kinds.check_kinds("neuron", self.neuron, n))
        options = kinds.options()
        bad = sorted(set(self.kind_options) - set(options))
        if bad:
            raise ConfigError(f"unknown neuron options {bad}; known: {', '.join(options)}")
        values = {
            k: kinds.check_value(o, self.kind_options.get(k, o.default), n)
            for k, o in options.items()
        }
        object.__setattr__(self, "kind_options", values)

    def __getattr__(self, name: str) -> Any:
        """A neuron option's value (``tau_mem``), or a constant's record value (``alpha``)."""
        options = self.__dict__.get("kind_options")
        if options is None or name.startswith("_"):
            raise AttributeError(name)
        if name in options:
            return options[name]
        later = kinds.options().get(name)  # a kind registered after this config was made
        return later.default if later is not None else kinds.record_value(self, name)

    @property
    def alpha_out(self) -> float:
        return math.exp(-self.dt / self.tau_out)

    @property
    def recurrent_layers(self) -> tuple[bool, ...]:
        """One bool per hidden layer: is it recurrent."""
        if isinstance(self.recurrent, bool):
            return (self.recurrent,) * len(self.hidden)
        return self.recurrent

    @property
    def neuron_layers(self) -> tuple[str, ...]:
        """The neuron kind of each hidden layer."""
        return kinds.per_layer(self.neuron, len(self.hidden))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (unknown names raise ConfigError)."""
        _check_keys(changes)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every setting by key, the neuron options flat after ``dt`` (copies)."""
        d: dict[str, Any] = {}
        for f in fields(self):
            if f.name != "kind_options":
                d[f.name] = copy.deepcopy(getattr(self, f.name))
            if f.name == "dt":
                d.update(copy.deepcopy(self.kind_options))
        return d

    def to_toml(self) -> str:
        """The whole record as TOML (``reg = false`` when the regulariser is off)."""
        d = self.to_dict()
        if d["reg"] is None:
            d["reg"] = False
        return dumps_toml(d)

    def describe(self) -> str:
        """The settings as a few human lines (printed at the start of a run)."""
        reg = "off" if self.reg is None else ", ".join(f"{k} {v:g}" for k, v in self.reg.items())
        enc = ", ".join(f"{k} {v}" for k, v in self.encoding.items()) or "loader defaults"
        limit = f", limit {self.limit}" if self.limit else ""
        return "\n".join(
            (
                f"preset   {self.preset}: {preset_note(self.dataset, self.preset)}",
                f"data     {self.dataset} ({enc}{limit}), validation "
                + (
                    f"speaker {self.val_speaker} held out"
                    if self.val_speaker
                    else f"{self.val_fraction:g} of train"
                ),
                f"network  hidden {layer_sizes(self.hidden, self.recurrent_layers)}, "
                f"dt {self.dt * 1e3:g} ms, tau_out "
                f"{self.tau_out * 1e3:g} ms (alpha_out {self.alpha_out:.6f}), init {self.init}, "
                f"readout {self.readout}",
                f"neuron   {kinds.describe(self)}",
                f"gradient {self.grad}, b_th {self.b_th:g}, "
                f"surrogate scale {self.surrogate_scale:g}; regulariser {reg}",
                f"optimiser Adam lr {self.lr:g}, betas {self.betas[0]:g}/{self.betas[1]:g}, "
                f"batch {self.batch_size}{' (drop last)' if self.drop_last else ''}, "
                f"epochs {self.epochs}",
                f"schedule {self.lr_schedule}"
                + {
                    "cosine": f" to lr_min {self.lr_min:g}",
                    "step": f" x{self.lr_gamma:g} every {self.lr_step_epochs} epochs",
                }.get(self.lr_schedule, "")
                + f", warmup {self.warmup_epochs} epochs, weight decay {self.weight_decay:g}, "
                f"clip grad norm {self.clip_grad_norm or 'off'}, augment "
                + (", ".join(f"{k} {v:g}" for k, v in self.augment.items()) or "off")
                + ", "
                f"early stop patience {self.patience or 'off'}",
                f"run      backend {self.backend}, dtype {self.dtype}"
                + (f", weights {self.weight_dtype}" if self.weight_dtype != "float32" else "")
                + f", seed {self.seed}",
            )
        )


def layer_sizes(hidden: tuple[int, ...], recurrent: tuple[bool, ...]) -> str:
    """Hidden layer sizes as "200r-200": an "r" marks a recurrent layer."""
    return "-".join(f"{n}{'r' * r}" for n, r in zip(hidden, recurrent, strict=True))


def _reg(key: str, value: Any) -> dict[str, float] | None:
    return None if value is None else RegParams.from_dict(check_reg_values(key, value)).as_dict()


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    return lambda key, value: check_choice(key, value, choices)


# The checks of the fields that are not numbers with a declared range (those are checked
# against ``checks.RANGES``); a field in neither is checked by its annotated type alone.
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "dataset": _choice(DATASETS),
    "encoding": check_table,
    "hidden": check_sizes,
    # "recurrent": checked in __post_init__ against the number of hidden layers
    "readout": _choice(READOUTS),
    "preset": _choice(PRESETS),
    "init": _choice(INITS),
    "reg": _reg,
    "augment": lambda key, value: Augment.from_dict(value, key).as_dict(),
    "grad": _choice(MODES),
    "betas": check_betas,
    "lr_schedule": _choice(SCHEDULES),
    "dtype": _choice(DTYPES),
    "weight_dtype": _choice(WEIGHT_DTYPES),
    "backend": _choice(BACKENDS),
    "seed": check_seed,
}
_BY_TYPE: dict[str, Callable[[str, Any], Any]] = {
    "int": check_int,
    "float": check_float,
    "bool": check_bool,
    "str": check_str,
}


def preset(dataset: str = "synthetic", name: str = "tuned") -> TrainConfig:
    """The settings of preset ``name`` for ``dataset``: "paper" (PAPER.md §3), "tuned" (the
    paper's with a recipe measured to do better, where there is one) or "recurrent" (SHD
    only: the recurrent, heterogeneous-tau recipe of Perez-Nieves et al. 2021, see
    ``presets.RECURRENT``); "synthetic" is the quick job under "tuned" and "paper". The
    encoding is the data set's default (its registry entry)."""
    if dataset not in _REGISTRY:
        raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    settings = preset_settings(dataset, name)
    encoding = dict(_REGISTRY[dataset].encoding)
    return TrainConfig(dataset=dataset, preset=name, encoding=encoding, **settings)


def paper_training(dataset: str) -> dict[str, Any]:
    """The paper's training settings of ``dataset`` (its "paper" preset), as ``spikegrad
    datasets info`` shows them; empty for the built-in task."""
    if dataset == "synthetic":
        return {}
    c = preset(dataset, "paper")
    return {
        **kinds.summary(c),
        "tau_readout": c.tau_out,
        "alpha_out": c.alpha_out,
        "init": c.init,
        "lr": c.lr,
        "batch_size": c.batch_size,
        "epochs": c.epochs,
        "f_up": (c.reg or {}).get("f_up"),
        "readout": c.readout,
    }


def from_dict(d: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """``d`` (possibly partial) over ``base``, or over the preset of ``d["dataset"]``.

    Tables (``encoding``, ``reg``) update the base's entry by entry; ``reg = false`` turns
    the regulariser off.
    """
    d = dict(d)
    _check_keys(d)
    given_enc = d.get("encoding") if isinstance(d.get("encoding"), dict) else {}
    if d.get("reg") is False:
        d["reg"] = None
    if (
        base is None
        or ("dataset" in d and d["dataset"] != base.dataset)
        or ("preset" in d and d["preset"] != base.preset)
    ):
        name = d.get("preset", base.preset if base else "tuned")
        base = preset(d.get("dataset", base.dataset if base else "synthetic"), name)
    for k, v in d.items():
        if isinstance(v, dict) and isinstance(getattr(base, k), dict):
            d[k] = {**getattr(base, k), **v}  # a partial table updates the preset's
    enc = d.get("encoding", base.encoding)
    if "dt" in d and isinstance(enc, dict) and "dt" in enc and "dt" not in given_enc:
        d["encoding"] = {**enc, "dt": d["dt"]}  # dt is set in one place: the encoding follows
    return base.replace(**d)


def load_config(
    path: str | Path, base: TrainConfig | None = None, preset_name: str | None = None
) -> TrainConfig:
    """Read a TOML file (any subset of the fields) over ``base`` or the data set's preset
    (``preset_name``, when given, instead of the file's ``preset``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        d = loads_toml(text)
        if preset_name is not None:
            d["preset"] = preset_name
        return from_dict(d, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def make_config(
    dataset: str | None = None, path: str | Path | None = None, **changes: Any
) -> TrainConfig:
    """The preset of ``dataset`` (or of the file's, else "synthetic"), then file ``path``,
    then ``changes``: the precedence of ``spikegrad train``. ``changes["preset"]`` names the
    preset ("tuned", the default, or "paper") under the file and the other changes."""
    name = changes.pop("preset", None)
    cfg = preset(dataset or "synthetic", name or "tuned")
    if path is not None:
        base = cfg if dataset else None
        cfg = load_config(path, base, name)
        if dataset and cfg.dataset != dataset:
            raise ConfigError(f"{path}: is for data set {cfg.dataset!r}, not {dataset!r}")
    return from_dict(changes, cfg)


def _check_keys(d: dict[str, Any], internal: bool = False) -> None:
    """ConfigError for a key that is neither a setting nor a neuron option (``internal``:
    ``kind_options``, the record's own field, is allowed too)."""
    known = {f.name for f in fields(TrainConfig) if f.name != "kind_options"}
    known |= set(kinds.options())
    if internal:
        known.add("kind_options")
    bad = sorted(set(d) - known)
    if bad:
        raise ConfigError(f"unknown config keys {bad}; known: {', '.join(sorted(known))}")
