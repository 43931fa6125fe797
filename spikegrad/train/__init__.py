"""Training runs, in small parts (import the module you need; this package imports nothing).

* :mod:`.config`: the :class:`~.config.TrainConfig` record, its checks and its sources
  (presets, TOML files, changes), in that precedence.
* :mod:`.presets`: the paper's settings per data set and the recipes over them.
* :mod:`.neuron`: the neuron settings from the kind registry (options, checks, the hidden
  layer records of a config).
* :mod:`.toml`: TOML in and out.
* :mod:`.build`: data, network and optimiser of a config.
* :mod:`.loop`: the epoch loop over batches, with one step function.
* :mod:`.run`: :func:`~.run.fit`, a :class:`~.run.Run` of short methods.
* :mod:`.folder`: the run folder (config, metrics, checkpoints).
* :mod:`.signals`: Ctrl-C and SIGTERM during a run.
* :mod:`.diagnosis`: the replay that names the first non-finite quantity.
* :mod:`.evaluate`: accuracy, loss and confusion of a network, a checkpoint or a model file.
* :mod:`.checkpoint`: checkpoint files.
"""
