"""`tiedflow generate`: a deterministic data set made from the embedded digits."""

from __future__ import annotations

import argparse
import time

from pipeline.cli.output import error, say
from pipeline.errors import EXIT_OK, EXIT_USAGE


def add_parser(sub) -> None:
    gen = sub.add_parser(
        "generate",
        help="write a deterministic data set made from the "
        "embedded digits (shifted, rotated, noisy)",
    )
    gen.add_argument("--n", type=int, required=True, help="number of examples")
    gen.add_argument(
        "--format",
        choices=("folder", "tfrecord"),
        required=True,
        help="folder: OUT/<class>/<i>.png; tfrecord: gzipped tf.Examples (pixels, label)",
    )
    gen.add_argument("--image-size", type=int, choices=(8, 28), default=8)
    gen.add_argument("--out", required=True, metavar="DIR")
    gen.add_argument("--colour", action="store_true", help="RGB images with a random tint")
    gen.add_argument(
        "--class-names",
        action="store_true",
        help="classes named zero..nine (folders, or bytes labels) instead of ids",
    )
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument(
        "--pixel-encoding",
        choices=("int", "bytes"),
        default="int",
        help="tfrecord: pixels as int64 values, or as one bytes value of raw "
        "uint8 (read it with --set pixel_encoding=bytes --set image_shape=H,W)",
    )


def execute(args: argparse.Namespace) -> int:
    from ingestion import synthetic

    if args.n < 1:
        error("--n must be at least 1")
        return EXIT_USAGE
    start = time.time()
    synthetic.generate(
        args.out,
        args.n,
        args.format,
        image_size=args.image_size,
        colour=args.colour,
        names=args.class_names,
        seed=args.seed,
        pixel_encoding=args.pixel_encoding,
    )
    raw = (
        ", raw uint8 bytes" if args.format == "tfrecord" and args.pixel_encoding == "bytes" else ""
    )
    say(
        f"wrote {args.n} examples to {args.out} ({args.format}{raw}, {args.image_size}x"
        f"{args.image_size}{', colour' if args.colour else ''}"
        f"{', named classes' if args.class_names else ''}; {time.time() - start:.1f} s)"
    )
    return EXIT_OK
