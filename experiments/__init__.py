"""Experiments: typed configs, presets, the runner, the CLI, logging and maps."""
