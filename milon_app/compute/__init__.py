"""Local compute: hardware detection, model specs, datasets, the trainer, the weights format.

Modules (import them directly; this package imports nothing so ``milon --help`` stays fast):

- ``hardware``: ``detect() -> HardwareReport``, ``select_device(name) -> torch.device``
- ``benchmark``: ``measure_capacity(device, spec, batch_size) -> CapacityResult`` (the score)
- ``model_spec``: ``ModelSpec`` (declarative JSON, allowlisted layers), ``digits_mlp``,
  ``digits_cnn``; ``layers`` holds the allowlist
- ``datasets``: ``DatasetSpec``, ``load_dataset(spec) -> Dataset``; ``data_files`` the readers
- ``partition``: ``partition_iid``, ``partition_dirichlet``, ``stable_permutation``
- ``trainer``: ``train(...) -> TrainResult``, ``evaluate``, ``TrainProgress``,
  ``TrainingCancelled``; ``worker``: ``TrainerWorker``, ``submit_training -> Future``
- ``weights``: safetensors encode/decode with validation
"""
