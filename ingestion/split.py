"""The deterministic train/eval split, stratified by class.

Each example's place is decided by a hash of (seed, its key). Within a class
of at most EXACT_SPLIT_LIMIT examples, the examples with the smallest hashes,
`eval_percent` of them (rounded), go to eval: exactly its share. In a larger
class, an example goes to eval when its hash falls in the lowest
`eval_percent` of the hash range (TFX's hash-bucket split), so that no pass
holds every hash of a class: the share is `eval_percent` within sampling error
(one standard deviation is 0.6 points at 4,096 examples and 20%), and the
two rules pick nearly the same examples, since the hashes are uniform. The
same data and seed give the same split whatever the file order or the number
of Beam workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ingestion.errors import DataError
from ingestion.examples import Record


def split_hash(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


# Classes up to this size are split exactly; each pass keeps at most this many
# hashes per class (about 0.5 MB), whatever the size of the data set.
EXACT_SPLIT_LIMIT = 4096
HASH_HEX_DIGITS = 64  # split_hash: sha256 in hex


def eval_threshold(eval_percent: int) -> str:
    """The largest hash in the lowest `eval_percent` of the hash range."""
    return format(16**HASH_HEX_DIGITS * eval_percent // 100 - 1, f"0{HASH_HEX_DIGITS}x")


def class_cutoff(class_name: str, count: int, hashes: list[str] | None, eval_percent: int) -> str:
    """The largest eval hash of a class of `count` examples: exact from its
    `hashes` up to EXACT_SPLIT_LIMIT examples, the hash-range threshold above."""
    if count > EXACT_SPLIT_LIMIT:
        return eval_threshold(eval_percent)
    assert hashes is not None and len(hashes) == count
    return eval_cutoff(class_name, hashes, eval_percent)


def eval_cutoff(class_name: str, hashes: Iterable[str], eval_percent: int) -> str:
    """The largest hash of the class's eval examples. Raises DataError when the
    class is too small to give both splits at least one example."""
    ordered = sorted(hashes)
    n_eval = int(round(len(ordered) * eval_percent / 100.0))
    if n_eval == 0 or n_eval == len(ordered):
        raise DataError(
            f"class {class_name!r} has {len(ordered)} example(s): too few for a "
            f"train and an eval part at eval_percent={eval_percent}; add examples "
            "of it or leave the class out"
        )
    return ordered[n_eval - 1]


def split_records(
    records: list[Record],
    eval_percent: int,
    seed: int,
) -> dict[str, list[Record]]:
    """The same split on a list in memory (tests, benchmarks)."""
    by_label: dict[int, list[Record]] = {}
    for rec in records:
        by_label.setdefault(rec.label, []).append(rec)
    splits: dict[str, list[Record]] = {"train": [], "eval": []}
    for label in sorted(by_label):
        hashes = [split_hash(seed, r.key) for r in by_label[label]]
        cutoff = class_cutoff(str(label), len(hashes), hashes, eval_percent)
        for rec, hashed in zip(by_label[label], hashes):
            splits["eval" if hashed <= cutoff else "train"].append(rec)
    return splits


def digits_splits(image_size: int = 8, eval_percent: int = 20, seed: int = 42):
    """The embedded digits split as the pipeline splits them (tests, benchmarks)."""
    from ingestion.sources import digits_records

    return split_records(list(digits_records(image_size)), eval_percent, seed)
