"""`tiedflow predict`: label image files with a pushed model."""

from __future__ import annotations

import argparse

from pipeline.config import DEFAULT_OUTPUT_DIR


def add_parser(sub) -> None:
    prd = sub.add_parser("predict", help="label image files with the latest pushed model")
    where = prd.add_mutually_exclusive_group()
    where.add_argument(
        "--output-dir",
        default=DEFAULT_OUTPUT_DIR,
        help="use the newest model pushed under <output-dir>/serving",
    )
    where.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help="a SavedModel dir (or a serving dir of version folders)",
    )
    prd.add_argument(
        "--abstain-below",
        type=float,
        default=None,
        metavar="P",
        help="abstain when the top probability is below P "
        "(default: the abstain_below the model was pushed with)",
    )
    prd.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per image: file, label, probability, abstained, error",
    )
    prd.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files, any size")


def execute(args: argparse.Namespace) -> int:
    from pushed_models import predict

    return predict.run(
        args.images,
        output_dir=args.output_dir,
        model=args.model,
        abstain_below=args.abstain_below,
        as_json=args.json,
    )
