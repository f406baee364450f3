"""The error for input that cannot be used: the CLI turns it into exit status 2."""


class DataError(ValueError):
    """Input data that cannot be used; the message names the file or setting."""
