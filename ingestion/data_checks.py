"""Checks on the whole data set, once its profile is known (ingestion.transforms).

Some bad data is only bad next to the rest: a source with no examples, a flat
pixel list of another length than the others, a label that leaves a gap in
the class ids. The profile keeps, per distinct label and per image size, how
many examples have it and where one of them is (file and record), so each
check names a record to look at, and says what would fix it. The messages are
one line: Beam's multi-processing runner sends a worker's error back as text,
and the CLI finds a DataError there by its last line (pipeline find_user_error).
"""

from __future__ import annotations

from typing import NamedTuple

from ingestion.errors import DataError
from ingestion.settings import IngestSettings

FLAT_ENCODINGS = ("int", "float", "bytes")  # pixel lists without a shape of their own
SHOWN = 5  # offending values named in one message


class Profile(NamedTuple):
    """What one pass over the images learns: per label and per (H, W), the number
    of images with it and where one of them is; the share of colour images."""

    labels: dict  # label -> (images, where)
    sizes: dict  # (H, W) -> (images, where)
    colour_share: float
    images: int


def tally(table: dict, key, where: str) -> None:
    """Counts `key` in `table` and keeps the smallest `where` (the same whatever
    order Beam feeds the images in)."""
    entry = table.get(key)
    if entry is None:
        table[key] = [1, where]
    else:
        entry[0] += 1
        if where < entry[1]:
            entry[1] = where


def merge(into: dict, table: dict) -> None:
    for key, (count, where) in table.items():
        entry = into.get(key)
        if entry is None:
            into[key] = [count, where]
        else:
            entry[0] += count
            if where < entry[1]:
                entry[1] = where


def _records(count: int) -> str:
    return f"{count} record{'s' if count != 1 else ''}"


def _have(count: int) -> str:
    return f"{_records(count)} {'has' if count == 1 else 'have'}"


def _ranges(ids: list[int]) -> str:
    """'10-41, 50' for [10, ..., 41, 50]."""
    parts, start = [], None
    for i, value in enumerate(ids):
        if start is None:
            start = value
        if i + 1 == len(ids) or ids[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ", ".join(parts)


def check_not_empty(profile: Profile, settings: IngestSettings, kind: str, skipped: int) -> None:
    """A source without a single example is named, with what to put there."""
    if profile.images:
        return
    data = settings.data
    if kind == "folder":
        others = (
            f"; {skipped} file(s) there are not images by their name's suffix" if skipped else ""
        )
        raise DataError(
            f"{data}: no images in its class folders{others}; put the images "
            f"(.png, .jpg, ...) in {data.rstrip('/')}/<class>/, one folder per class"
        )
    raise DataError(
        f"--data {data}: the TFRecord file(s) it names hold no records (empty "
        "files); give files that hold tf.Examples"
    )


def check_flat_sizes(profile: Profile, settings: IngestSettings, kind: str) -> None:
    """Flat pixel lists (no `image_shape`) are read as square images; records of
    several lengths would each become another square size, silently resized
    to one. The most common length is the data set's; the others are refused."""
    if (
        len(profile.sizes) < 2
        or kind != "tfrecord"
        or settings.image_shape
        or settings.pixel_encoding not in FLAT_ENCODINGS
    ):
        return
    by_count = sorted(profile.sizes.items(), key=lambda item: (-item[1][0], item[0]))
    (common, (common_count, _)), odd = by_count[0], by_count[1:]
    (height, width), (count, where) = min(odd, key=lambda item: (item[1][0], item[0]))
    lengths = ", ".join(f"{h * w} ({_records(n)})" for (h, w), (n, _) in odd[:SHOWN])
    raise DataError(
        f"{where}: feature {settings.image_feature!r} has {height * width} values, but "
        f"{common_count} of the {profile.images} records have {common[0] * common[1]} "
        f"({common[0]}x{common[1]}); a flat pixel list has no shape of its own, and other "
        f"lengths are: {lengths}; fix or leave out those records, or set image_shape=H,W "
        "(or H,W,C) to the shape every record has"
    )


def checked(profile: Profile, settings: IngestSettings, skipped: int = 0) -> Profile:
    """The profile, once the data set passes the checks that need all of it."""
    from ingestion import sources

    if profile.images and len(profile.sizes) < 2:
        return profile
    kind = sources.check_source(settings.data)
    check_not_empty(profile, settings, kind, skipped)
    check_flat_sizes(profile, settings, kind)
    return profile


def class_names(labels: dict, settings: IngestSettings) -> list[str]:
    """The classes in id order: the `classes` setting, else from the labels found
    ({label: (examples, where)}).

    Integer labels (and class folders named by numbers) are ids: they must be
    0..K-1 with none missing. Names are sorted. Fewer than two classes is an
    error. Each error names a record with the offending label."""
    if settings.classes:
        names = [str(c) for c in settings.classes]
        if len(names) < 2:
            raise DataError(
                f"setting 'classes': {len(names)} class(es) ({', '.join(names)}); "
                "a classifier needs at least two"
            )
        return names
    if all(
        isinstance(label, int) or (isinstance(label, str) and label.isdigit()) for label in labels
    ):
        ids: dict = {}
        for label, (count, where) in labels.items():
            merge(ids, {int(label): (count, where)})
        _no_negative_ids(ids)
        if len(ids) < 2:
            _one_class(labels, settings)
        return _contiguous_ids(ids)
    if len({str(label) for label in labels}) < 2:
        _one_class(labels, settings)
    return sorted({str(label) for label in labels})


def _one_class(labels: dict, settings: IngestSettings) -> None:
    from ingestion import sources

    label, (_, where) = next(iter(labels.items()), (None, (0, "")))
    count = sum(n for n, _ in labels.values())
    if settings.data != "digits" and sources.check_source(settings.data) == "folder":
        fix = f"give each class a folder of its own under {settings.data.rstrip('/')}/"
    else:
        fix = f"check the `label_feature` setting (now {settings.label_feature!r}) or the data"
    raise DataError(
        f"--data {settings.data}: every example has the label {str(label)!r} "
        f"({_records(count)}, e.g. {where}); a classifier needs at least two "
        f"classes: {fix}"
    )


def _others(what: str, ids: list) -> str:
    """' (what: a, b, c)' of the first SHOWN ids, or nothing when there are none."""
    return f" ({what}: {', '.join(map(str, ids[:SHOWN]))})" if ids else ""


def _no_negative_ids(ids: dict) -> None:
    negative = sorted(i for i in ids if i < 0)
    if negative:
        count, where = ids[negative[0]]
        also = _others("other negative ids", negative[1:])
        raise DataError(
            f"{where}: label {negative[0]}: class ids must be 0 or more, and "
            f"{_have(count)} it{also}; fix the label(s), or give the "
            "labels' classes in order with the `classes` setting"
        )


def _contiguous_ids(ids: dict) -> list[str]:
    top = max(ids)
    missing = sorted(set(range(top + 1)) - set(ids))
    if missing:
        beyond = sorted((i for i in ids if i > missing[0]), key=lambda i: (ids[i][0], -i))
        count, where = ids[beyond[0]]
        also = _others("other ids past the gap", sorted(beyond[1:]))
        raise DataError(
            f"{where}: label {beyond[0]}: class ids must be 0..K-1 with none "
            f"missing, but no example has the id(s) {_ranges(missing)}, and "
            f"{_have(count)} it{also}; fix the label(s), or give "
            "the labels' classes in order with the `classes` setting"
        )
    return [str(i) for i in range(top + 1)]
