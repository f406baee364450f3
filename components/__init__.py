"""The project's own TFX components, one per module, each with its executor.

What an executor computes lives in the library packages (ingestion, trainer,
evaluation, reporting, serving); a module here declares the component, its
spec and knobs, and hands over to them.
"""
