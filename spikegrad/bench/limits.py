"""What a sparse step cannot avoid, counted from a case's actual spikes and active sets, and the
machine's limit for it (issue 23: the step against the machine's own limit).

Memory traffic is counted in words of the network's dtype, each word one add (or fused
multiply-add) where it is accumulated:

* forward, per hidden layer l (N_l neurons, N_{l-1} inputs): one W row (N_l words) per input
  spike, one R row per own spike in a recurrent layer, and k state words per neuron-step
  (k = the kind's state: V for LIF; V and I for CuBa; V and a for ALIF); the readout one W_out
  row (K words) per spike of the last layer and one word per class-step;
* backward, per hidden layer: one dW row (N_l words, accumulated) per input spike; for l > 1 one
  W row per active entry of layer l - 1 (dL/dx, needed only there, ALGORITHM.md §5); in a
  recurrent layer one R row per own active entry (the R term of g) and one dR row per own
  spike; k' adjoint words per neuron-step (eps; eps and eps_I; eps and eps_a); the readout one
  dW_out row per last-layer spike, one W_out row per last-layer active entry and one word per
  class-step;
* step: forward + backward + Adam (7 words per parameter: p, g, m, v read, p, m, v written).

The limit of a phase is its bytes over the copy bandwidth (:func:`.machine.bandwidth`) of the
smallest level that holds the phase's working set (the largest layer's weights, which the
forward reads; with their gradients, which the backward accumulates; p, g, m, v of every
parameter for Adam); the step's limit is the sum of its
forward's, backward's and Adam's. A phase's fraction is its limit over the measured time (issue
23's target: >= 50 %).
"""

from __future__ import annotations

from typing import Any

from ..network import Network
from ..spikes import SpikeEvents

ADAM_WORDS = 7
LEVELS = ("L2", "L3", "DRAM")
TARGET_FRACTION = 0.5  # issue 23: the step at >= 50 % of its limit


def unavoidable(
    net: Network, x: SpikeEvents, spikes: list[int], n_active: list[int]
) -> dict[str, Any]:
    """Words and adds a sparse step of ``net`` on ``x`` cannot avoid, given the hidden layers'
    spike counts ``spikes`` and active entry counts ``n_active`` (the case's own).

    Returns {phase: {"bytes", "adds", "working_set"}} for forward, backward and adam (Adam's
    update; a step is the three)."""
    B, T, _ = x.shape
    word = net.dtype.itemsize
    inputs = [x.n_events, *spikes[:-1]]
    fwd = bwd = 0
    weights, largest = 0, 0  # parameters; the largest layer's (W, R, or W_out)
    for l, layer in enumerate(net.hidden, start=1):
        n_in, n = net.sizes[l - 1], net.sizes[l]
        k, k_adj = len(layer.kind.State._fields), len(layer.kind.Adjoint._fields)
        own = spikes[l - 1] if layer.recurrent else 0
        fwd += (inputs[l - 1] + own) * n + k * B * T * n
        dx = n_active[l - 2] * n if l > 1 else 0
        r_term = n_active[l - 1] * n if layer.recurrent else 0
        bwd += (inputs[l - 1] + own) * n + dx + r_term + k_adj * B * T * n
        size = n_in * n + (n * n if layer.recurrent else 0)
        weights, largest = weights + size, max(largest, size)
    K = net.sizes[-1]
    fwd += spikes[-1] * K + B * T * K
    bwd += (spikes[-1] + n_active[-1]) * K + B * T * K
    weights += net.sizes[-2] * K
    largest = max(largest, net.sizes[-2] * K)
    return {
        "forward": {"bytes": fwd * word, "adds": fwd, "working_set": largest * word},
        "backward": {"bytes": bwd * word, "adds": bwd, "working_set": 2 * largest * word},
        "adam": {
            "bytes": ADAM_WORDS * weights * word,
            "adds": 0,
            "working_set": 4 * weights * word,
        },
    }


def level_for(working_set: float, caches: dict[str, int | None]) -> str:
    """The smallest level ("L2", "L3", "DRAM") whose size holds ``working_set`` bytes (an
    unknown cache size never holds it)."""
    for level in ("L2", "L3"):
        size = caches.get(level)
        if size is not None and working_set <= size:
            return level
    return "DRAM"


def fractions(
    counts: dict[str, Any],
    measured: dict[str, float],
    bandwidth: dict[str, dict[str, float]],
    caches: dict[str, int | None],
) -> dict[str, Any]:
    """Per phase (forward, backward, step) of :func:`unavoidable`'s ``counts``: bytes, adds,
    working set, the level that holds it, that level's bandwidth (the step: its parts'
    levels, "+"-joined, and no single bandwidth), the limit time (bytes / bandwidth; the step:
    the sum of its parts'), the measured time (``measured[phase]``, seconds) and the fraction
    limit / measured."""
    parts = {}
    for phase, c in counts.items():
        level = level_for(c["working_set"], caches)
        bw = bandwidth[level]["bytes_per_s"]
        parts[phase] = {**c, "level": level, "bytes_per_s": bw, "limit_s": c["bytes"] / bw}
    step = {
        "bytes": sum(p["bytes"] for p in parts.values()),
        "adds": sum(p["adds"] for p in parts.values()),
        "working_set": max(p["working_set"] for p in parts.values()),
        "level": "+".join(p["level"] for p in parts.values()),
        "bytes_per_s": None,
        "limit_s": sum(p["limit_s"] for p in parts.values()),
    }
    out = {"forward": parts["forward"], "backward": parts["backward"], "step": step}
    for phase, f in out.items():
        f["measured_s"] = measured[phase]
        f["fraction"] = f["limit_s"] / measured[phase]
    return out


def lines(limit: dict[str, Any], bandwidth: dict[str, dict[str, float]]) -> list[str]:
    """The report lines: the measured bandwidths, then one line per phase."""
    bw = ", ".join(
        f"{lv} {bandwidth[lv]['bytes_per_s'] / 1e9:.0f} GB/s "
        f"({bandwidth[lv]['working_set'] / 2**20:g} MiB)"
        for lv in LEVELS
    )
    out = [f"  limit: copy bandwidth (one core, working set) {bw}"]
    for phase, f in limit.items():
        ok = "met" if f["fraction"] >= TARGET_FRACTION else "NOT met"
        out.append(
            f"    sparse {phase:8s} cannot avoid {f['bytes'] / 1e6:7.1f} MB, "
            f"{f['adds'] / 1e6:6.1f} M adds; working set {f['working_set'] / 2**20:.2f} MiB "
            f"-> {f['level']}: limit {f['limit_s'] * 1e3:6.2f} ms = {f['fraction']:5.1%} of "
            f"{f['measured_s'] * 1e3:.1f} ms (target >= {TARGET_FRACTION:.0%}: {ok})"
        )
    return out
