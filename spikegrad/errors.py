"""The exception hierarchy: every error spikegrad raises on purpose derives from SpikegradError."""

from __future__ import annotations


class SpikegradError(Exception):
    """Base of all spikegrad errors; the CLI turns these into one-line messages."""


class ConfigError(SpikegradError, ValueError):
    """An option or constructor argument has an invalid value."""


class ShapeError(SpikegradError, ValueError):
    """An array has the wrong shape; the message names the argument, expected and actual."""


class InputError(SpikegradError, ValueError):
    """Input spikes or labels are not valid (values other than 0/1, labels out of range, ...)."""


class DTypeError(SpikegradError, TypeError):
    """An array has an unsupported or mismatched dtype."""


class BackendUnavailableError(SpikegradError, RuntimeError):
    """The requested backend cannot run here (no CuPy, no GPU or no driver)."""


class KernelError(SpikegradError, RuntimeError):
    """A CUDA kernel failed to compile or launch, or no kernel exists for an op."""


class DataError(SpikegradError, ValueError):
    """A data file is missing, corrupt or of the wrong format; the message names the file."""


class TrainingError(SpikegradError, RuntimeError):
    """Training cannot go on (a non-finite loss or parameter)."""


class BadValueError(ConfigError):
    """A setting ``key`` has a value of the wrong type or outside its range.

    The message is ``"<key> must be <need>; got <value>"``; the CLI names the option instead.
    """

    def __init__(self, key: str, value: object, need: str) -> None:
        self.key, self.value, self.need = key, value, need
        super().__init__(f"{key} must be {need}; got {value!r}")
