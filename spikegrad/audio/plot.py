"""A raster of one recording through the cochlea (``spikegrad plot FILE.wav``)."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadValueError, ConfigError


def plot_recording(wav: str | Path, out: str | Path | None = None, seed: int = 0) -> Path:
    """Encode ``wav`` (:func:`spikegrad.audio.encode`, 700 channels) and draw its spikes (time
    in s against channel, base at the bottom) over the waveform into ``out`` (default: the
    wav's path with .png); returns the file. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install 'spikegrad[plot]'") from None
    import numpy as np

    from ..datasets.fsdd import RATE, read_wav, to_rate
    from . import encode

    wav = Path(wav)
    path = Path(out) if out is not None else wav.with_suffix(".png")
    kinds = sorted(FigureCanvasBase.get_supported_filetypes())
    if path.suffix.lower().lstrip(".") not in kinds:
        raise BadValueError("out", str(path), f"an image file ending in .{', .'.join(kinds)}")
    x, rate = read_wav(wav)
    x = to_rate(x, rate)
    t, u = encode(x, RATE, seed=seed)
    fig, (top, ax) = plt.subplots(
        2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [1, 4]}
    )
    top.plot(np.arange(x.size) / RATE, x, lw=0.5, color="k")
    top.set(ylabel="sound", title=f"{wav.name}: {t.size} spikes in 700 channels")
    ax.scatter(t, u, s=0.3, color="C0", linewidths=0)
    ax.set(xlabel="time (s)", ylabel="channel (0: base, high frequency)", ylim=(0, 700))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
