"""Exit statuses and how a user's error is told from a bug.

Shared by the command line and the Kubeflow task entry point, so a bad data
file or setting ends both with exit 2 and one line naming it.
"""

from __future__ import annotations

import re
import sys

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_BLESSED = 0, 1, 2, 3


def user_error_types() -> tuple[type, ...]:
    """The exception classes that mean bad input or configuration."""
    from ingestion.errors import DataError
    from pipeline.config import ConfigError

    errors: tuple[type, ...] = (DataError, ConfigError)
    # Anomalies are raised by the validator's executor, so a run that found
    # some has imported it; importing it here would load TFX on every error.
    validator = sys.modules.get("components.validator")
    if validator is not None:
        errors += (validator.DataAnomaliesError,)
    return errors


def find_user_error(err: BaseException | None) -> BaseException | None:
    """The DataError / anomaly / config error inside a wrapped exception, if any.

    Beam's multi-processing and portable runners send a worker's exception back
    as the text of its traceback only: a DataError there is found by its name."""
    from ingestion.errors import DataError

    user = user_error_types()
    seen: set[int] = set()
    texts: list[str] = []
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, user):
            return err
        texts.append(str(err))
        err = err.__cause__ or err.__context__
    found = re.findall(r"^ingestion\.errors\.DataError: (.+)$", "\n".join(texts), re.MULTILINE)
    return DataError(found[-1]) if found else None


def user_message(err: BaseException) -> str:
    """The error's text without what Beam appends ("[while running 'step']")."""
    return re.sub(r"\s*\[while running '[^']*'\]", "", str(err))


def exit_status_of(err: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an error that is not an interruption: 2 and
    the user's error when there is one inside, else 1 and the error."""
    user_error = find_user_error(err)
    if user_error is not None:
        return EXIT_USAGE, user_message(user_error)
    return EXIT_FAILURE, f"{type(err).__name__}: {err}"
