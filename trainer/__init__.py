"""Tied-weight CNN trainer: model, datasets, training run_fn and export."""
