"""The project's own TFX components, one per module."""
