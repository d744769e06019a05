"""Local compute: hardware detection, model specs, datasets, the trainer, the weights format."""
