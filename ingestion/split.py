"""The deterministic train/eval split, stratified by class.

Each example's place is decided by a hash of (seed, its key): within a class,
the examples with the smallest hashes, `eval_percent` of them (rounded), go to
eval. The same data and seed give the same split whatever the file order or
the number of Beam workers, and every class gets its share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ingestion.errors import DataError
from ingestion.examples import Record


def split_hash(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


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
        cutoff = eval_cutoff(
            str(label), (split_hash(seed, r.key) for r in by_label[label]), eval_percent
        )
        for rec in by_label[label]:
            splits["eval" if split_hash(seed, rec.key) <= cutoff else "train"].append(rec)
    return splits


def digits_splits(image_size: int = 8, eval_percent: int = 20, seed: int = 42):
    """The embedded digits split as the pipeline splits them (tests, benchmarks)."""
    from ingestion.sources import digits_records

    return split_records(list(digits_records(image_size)), eval_percent, seed)
