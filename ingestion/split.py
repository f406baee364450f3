"""The deterministic train/eval split, stratified by label."""
from __future__ import annotations

import hashlib

from ingestion.errors import DataError
from ingestion.examples import Record


def split_records(records: list[Record], eval_percent: int, seed: int) -> dict[str, list[Record]]:
    """Same data and seed, same split: each label's records ordered by a hash of
    (seed, key), the first `eval_percent` of them to eval."""
    by_label: dict[int, list[Record]] = {}
    for rec in records:
        by_label.setdefault(rec.label, []).append(rec)
    splits: dict[str, list[Record]] = {"train": [], "eval": []}
    for label in sorted(by_label):
        group = sorted(by_label[label],
                       key=lambda r: hashlib.sha256(f"{seed}:{r.key}".encode()).hexdigest())
        n_eval = int(round(len(group) * eval_percent / 100.0))
        splits["eval"].extend(group[:n_eval])
        splits["train"].extend(group[n_eval:])
    for name, part in splits.items():
        if not part:
            raise DataError(f"the {name} split is empty: {len(records)} examples are too few "
                            f"for eval_percent={eval_percent}")
    return splits


def digits_splits(image_size: int = 8, eval_percent: int = 20, seed: int = 42):
    """The embedded digits split as the pipeline splits them (tests, benchmarks)."""
    from ingestion.sources import digits_records

    return split_records(list(digits_records(image_size)), eval_percent, seed)
