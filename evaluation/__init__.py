"""The TFMA evaluation: the EvalConfig built from the settings and the project's own metrics."""
