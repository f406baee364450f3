"""Fuzzing: randomly damaged images and tf.Examples through ingestion and `tiedflow predict`.

Every case must end in a result or a clear error (a DataError whose message names
the input; for `predict`, an `error` in the file's JSON line), never a traceback
or a hang (each case has a timeout: ingestion cases run in a worker process that
is killed and replaced when one hangs). Prints the count of each outcome and
exits 1 if any case ended in a traceback or a hang.

    python tests/fuzz.py [--cases N] [--seed S] [--model DIR] [--timeout S]

Without --model, a small model is trained first (`tiedflow run`, train_steps=20).
`make fuzz` runs it; tests/test_fuzz.py runs a small fixed-seed share.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import multiprocessing
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

RESULT, CLEAR, TRACEBACK, HANG = "result", "clear error", "traceback", "hang"
ACCEPTED = "damage accepted"  # a cut TFRecord file read as a shorter, valid one
BAD = (TRACEBACK, HANG, ACCEPTED)
IMAGE_FORMATS = (
    "PNG-L",
    "PNG-RGB",
    "PNG-RGBA",
    "PNG-P",
    "PNG-I;16",
    "JPEG",
    "BMP",
    "GIF",
    "TIFF",
    "WEBP",
)
IMAGE_DAMAGE = (
    "bit flips",
    "truncation",
    "huge dimensions",
    "zero dimensions",
    "empty file",
    "random tail",
)
EXAMPLE_DAMAGE = (
    "bit flips",
    "truncation",
    "wrong feature type",
    "wrong length",
    "huge values",
    "NaN",
    "bad label",
    "missing feature",
    "damaged image bytes",
    "damaged file",
)
ENCODINGS = ("int", "float", "bytes", "encoded")
MAX_PIXELS = 4096 * 4096
STARTUP_TIMEOUT = 300  # a worker's imports (TensorFlow) on a busy machine


# --- making cases -------------------------------------------------------------------------


def _base_image(fmt: str, rng: random.Random) -> bytes:
    import numpy as np
    from PIL import Image

    side = rng.choice((8, 16, 28))
    gray = np.random.default_rng(rng.randrange(2**32)).integers(0, 256, (side, side), np.uint8)
    kind, _, mode = fmt.partition("-")
    image = Image.fromarray(gray)
    if mode in ("RGB", "RGBA") or kind in ("JPEG", "WEBP", "BMP", "TIFF"):
        image = image.convert("RGB")
    if mode == "RGBA":
        image.putalpha(128)
    if mode == "P" or kind == "GIF":
        image = image.convert("P")
    if mode == "I;16":
        image = Image.frombytes("I;16", image.size, (gray.astype("<u2") * 257).tobytes())
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


def _png_with_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR's width and height replaced (and its CRC fixed)."""
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    return data[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + data[33:]


def _declare_size(data: bytes, fmt: str, width: int, height: int) -> bytes:
    if fmt.startswith("PNG"):
        return _png_with_size(data, width, height)
    out = bytearray(data)
    if fmt == "BMP":
        out[18:26] = struct.pack("<ii", width, height)
    elif fmt == "GIF":
        out[6:10] = struct.pack("<HH", min(width, 65535), min(height, 65535))
    elif fmt == "JPEG":  # the first SOF marker's height and width
        at = bytes(out).find(b"\xff\xc0")
        if at > 0:
            out[at + 5 : at + 9] = struct.pack(">HH", min(height, 65535), min(width, 65535))
    else:  # anything else: the first 4-byte field after the header
        out[16:24] = struct.pack("<II", width, height)
    return bytes(out)


def _flip_bits(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def damage_image(data: bytes, fmt: str, damage: str, rng: random.Random) -> bytes:
    if damage == "bit flips":
        return _flip_bits(data, rng)
    if damage == "truncation":
        return data[: rng.randrange(len(data))]
    if damage == "huge dimensions":
        return _declare_size(
            data,
            fmt,
            rng.choice((65535, 100_000, 2**31 - 1)),
            rng.choice((65535, 100_000, 2**31 - 1)),
        )
    if damage == "zero dimensions":
        return _declare_size(data, fmt, 0, rng.choice((0, 8)))
    if damage == "empty file":
        return b""
    keep = rng.randrange(min(len(data), 64) + 1)  # the format's header, then noise
    return data[:keep] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))


def image_case(rng: random.Random) -> dict:
    fmt, damage = rng.choice(IMAGE_FORMATS), rng.choice(IMAGE_DAMAGE)
    data = damage_image(_base_image(fmt, rng), fmt, damage, rng)
    return {
        "kind": "image",
        "what": f"{fmt} {damage}",
        "data": data,
        "channels": rng.choice((1, 3)),
    }


def _example(encoding: str, rng: random.Random, damage: str):
    """A tf.Example (pixels as `encoding`, label) with `damage` done to its features."""
    import numpy as np
    import tensorflow as tf

    side = 8
    pixels = np.random.default_rng(rng.randrange(2**32)).integers(0, 256, side * side)
    feature = {}
    if encoding == "int":
        values = [int(v) for v in pixels]
    elif encoding == "float":
        values = [float(v) / 255 for v in pixels]
    elif encoding == "bytes":
        values = [pixels.astype(np.uint8).tobytes()]
    else:
        fmt = rng.choice(IMAGE_FORMATS)
        data = _base_image(fmt, rng)
        if damage == "damaged image bytes":
            data = damage_image(data, fmt, rng.choice(IMAGE_DAMAGE), rng)
        values = [data]
    if damage == "wrong length":
        values = (values * 4)[: rng.randrange(0, 200)]
    kinds = {"int": "int64_list", "float": "float_list"}
    kind = kinds.get(encoding, "bytes_list")
    if damage in ("huge values", "NaN") and encoding in ("bytes", "encoded"):
        kind = "float_list" if damage == "NaN" or rng.random() < 0.5 else "int64_list"
    if damage == "huge values":
        values = [
            rng.choice((2**63 - 1, -(2**63), 10**18))
            if kind == "int64_list"
            else rng.choice((3.0e38, -3.0e38, float("inf")))
            for _ in range(side * side)
        ]
    if damage == "NaN":
        kind, values = "float_list", [float("nan")] * (side * side)
    if damage == "wrong feature type":
        kind = rng.choice([k for k in ("int64_list", "float_list", "bytes_list") if k != kind])
        values = {
            "int64_list": [int(v) for v in pixels],
            "float_list": [float(v) for v in pixels],
            "bytes_list": [bytes(int(v) for v in pixels)],
        }[kind]
    if damage != "missing feature" or rng.random() < 0.5:
        feature["pixels"] = _feature(kind, values)
    label = rng.randrange(10)
    if damage == "bad label":
        feature["label"] = rng.choice(
            [
                _feature("int64_list", [rng.choice((-1, 2**63 - 1, 10**9))]),
                _feature("int64_list", [1, 2]),
                _feature("int64_list", []),
                _feature("float_list", [1.5]),
                _feature("bytes_list", [b"\xff\xfe"]),
                _feature("bytes_list", [b"cat"]),
            ]
        )
    elif damage != "missing feature" or "pixels" not in feature:
        feature["label"] = _feature("int64_list", [label])
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _feature(kind: str, values):
    import tensorflow as tf

    cls = {
        "int64_list": tf.train.Int64List,
        "float_list": tf.train.FloatList,
        "bytes_list": tf.train.BytesList,
    }[kind]
    return tf.train.Feature(**{kind: cls(value=values)})


def example_case(rng: random.Random) -> dict:
    encoding, damage = rng.choice(ENCODINGS), rng.choice(EXAMPLE_DAMAGE)
    example = _example(encoding, rng, damage).SerializeToString(deterministic=True)
    case = {
        "kind": "example",
        "what": f"{encoding} pixels, {damage}",
        "encoding": encoding,
        "data": example,
    }
    if damage == "bit flips":
        case["data"] = _flip_bits(example, rng)
    elif damage == "truncation":
        case["data"] = example[: rng.randrange(len(example))]
    elif damage == "damaged file":
        case.update(
            kind="tfrecord file",
            compression=rng.choice(("", "GZIP", "ZLIB")),
            records=[
                _example(encoding, rng, "none").SerializeToString(deterministic=True)
                for _ in range(rng.randint(1, 5))
            ],
            cut=rng.random() < 0.5,
            at=rng.random(),
            seed=rng.randrange(2**32),
        )
    return case


def make_cases(n: int, seed: int) -> list[dict]:
    """n cases, half images and half tf.Examples, the same for the same seed."""
    rng = random.Random(seed)
    return [image_case(rng) if i % 2 == 0 else example_case(rng) for i in range(n)]


# --- running cases through ingestion --------------------------------------------------------


def _ingest_image(case: dict, where: str) -> str:
    from ingestion import images

    pixels, _ = images.decode(case["data"], where, MAX_PIXELS)
    out = images.convert(pixels, 8, 8, case["channels"])
    assert out.shape == (8, 8, case["channels"]) and out.dtype.name == "uint8", out.shape
    return f"{pixels.shape[1]}x{pixels.shape[0]}x{pixels.shape[2]}"


def _ingest_records(case: dict, where: str, records) -> str:
    from ingestion import images, tfrecords
    from ingestion.settings import IngestSettings

    settings = IngestSettings(
        data=where,
        pixel_encoding=case["encoding"],
        image_shape="8,8" if case["encoding"] == "bytes" else "",
    )
    done = 0
    for index, raw in records:
        label, pixels, _ = tfrecords.decode_record(raw, f"{where}: record {index}", settings)
        images.convert(pixels, 8, 8, 1)
        done += 1
    return f"{done} record(s)"


def _write_damaged_file(case: dict, path: str) -> bool:
    """Writes the case's TFRecord file, cut or with bits flipped; whether it was cut short."""
    import tensorflow as tf

    with tf.io.TFRecordWriter(path, options=case["compression"]) as writer:
        for raw in case["records"]:
            writer.write(raw)
    with open(path, "rb") as f:
        data = f.read()
    rng = random.Random(case["seed"])
    damaged = data[: int(len(data) * case["at"])] if case["cut"] else _flip_bits(data, rng)
    with open(path, "wb") as f:
        f.write(damaged)
    # An empty file, or a plain one cut between two records, is a valid shorter file.
    ends, end = {0}, 0
    for raw in case["records"]:
        end += 16 + len(raw)
        ends.add(end)
    return len(damaged) < len(data) and not (
        len(damaged) == 0 or (not case["compression"] and len(damaged) in ends)
    )


def run_ingestion_case(case: dict, workdir: str) -> tuple[str, str]:
    """(outcome, detail) of one case through the functions ingestion uses per file/record."""
    from ingestion.errors import DataError

    where = os.path.join(workdir, f"case-{case['id']}")
    try:
        if case["kind"] == "image":
            detail = _ingest_image(case, where)
        elif case["kind"] == "example":
            detail = _ingest_records(case, where, [(0, case["data"])])
        else:
            from ingestion import tfrecords

            if _write_damaged_file(case, where):
                detail = _ingest_records(case, where, tfrecords.read_file(where))
                return ACCEPTED, f"cut file read as {detail}"
            detail = _ingest_records(case, where, tfrecords.read_file(where))
        return RESULT, detail
    except DataError as err:
        if where not in str(err):
            return TRACEBACK, f"DataError not naming the input: {err}"
        return CLEAR, str(err).replace(where, "<input>")[:200]
    except Exception:  # anything else would reach the user as a traceback
        return TRACEBACK, traceback.format_exc(limit=6)


def _worker(conn, workdir: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import PIL.Image  # noqa: F401  (loaded before the first case's clock starts)
    import tensorflow  # noqa: F401

    from ingestion import images, tfrecords  # noqa: F401

    conn.send("ready")
    while True:
        case = conn.recv()
        if case is None:
            return
        conn.send(run_ingestion_case(case, workdir))


class Worker:
    """A child process running cases; killed and replaced when a case hangs."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, self.workdir), daemon=True)
        self.process.start()
        if not (self.conn.poll(STARTUP_TIMEOUT) and self.conn.recv() == "ready"):
            raise RuntimeError(f"the fuzz worker did not start in {STARTUP_TIMEOUT} s")

    def run(self, case: dict, timeout: float) -> tuple[str, str]:
        self.conn.send(case)
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
            self.process.join(5)
            outcome = (TRACEBACK, f"worker died (exit {self.process.exitcode})")
        else:
            outcome = (HANG, f"no answer in {timeout:g} s")
        self.process.kill()
        self.process.join()
        self._start()
        return outcome

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(10)
        self.process.kill()


def fuzz_ingestion(cases: list[dict], timeout: float, workdir: str) -> list[tuple]:
    """(case, outcome, detail) per case."""
    worker = Worker(workdir)
    results = []
    try:
        for case in cases:
            outcome, detail = worker.run(case, timeout)
            results.append((case, outcome, detail))
    finally:
        worker.close()
    return results


# --- running image cases through `tiedflow predict` ------------------------------------------


def tiedflow() -> str:
    return os.path.join(os.path.dirname(sys.executable), "tiedflow")


def fuzz_predict(
    cases: list[dict], model: str, timeout: float, workdir: str, batch: int = 60
) -> list[tuple]:
    """The image cases as files through the real CLI, `batch` files per call.

    A file ends in a result (a label or an abstention) or a clear error (its JSON
    line has an error); a call that prints a traceback, exits 1 or times out
    counts against every file it had no line for."""
    images = [c for c in cases if c["kind"] == "image"]
    results = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        paths = []
        for case in chunk:
            path = os.path.join(workdir, f"predict-{case['id']}.png")
            with open(path, "wb") as f:
                f.write(case["data"])
            paths.append(path)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            proc = subprocess.run(
                [tiedflow(), "predict", "--model", model, "--json", *paths],
                capture_output=True,
                text=True,
                env=env,
                timeout=60 + timeout * len(chunk),
            )
        except subprocess.TimeoutExpired:
            results += [(c, HANG, "predict did not finish") for c in chunk]
            continue
        lines = {}
        for line in proc.stdout.splitlines():
            try:
                row = json.loads(line)
                lines[row["file"]] = row
            except (ValueError, KeyError, TypeError):
                pass
        broken = "Traceback" in proc.stderr or proc.returncode not in (0, 2)
        for case, path in zip(chunk, paths):
            row = lines.get(path)
            if row is None or broken:
                results.append((case, TRACEBACK, f"exit {proc.returncode}: {proc.stderr[-600:]}"))
            elif row.get("error"):
                results.append((case, CLEAR, row["error"][:200]))
            else:
                results.append((case, RESULT, f"{row.get('label')} {row.get('probability')}"))
    return results


def train_small_model(workdir: str) -> str:
    """A model trained briefly on the embedded digits: `<out>/serving`."""
    out = os.path.join(workdir, "model-run")
    proc = subprocess.run(
        [
            tiedflow(),
            "run",
            "--output-dir",
            out,
            "--set",
            "train_steps=20",
            "--set",
            "accuracy_threshold=0",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"training the fuzz model failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return os.path.join(out, "serving")


# --- the report ------------------------------------------------------------------------------


def summarize(name: str, results: list[tuple], out=sys.stdout) -> collections.Counter:
    counts = collections.Counter(outcome for _, outcome, _ in results)
    total = len(results) or 1
    print(
        f"{name}: {len(results)} cases: "
        + ", ".join(
            f"{counts[o]} {o} ({100 * counts[o] / total:.0f}%)" for o in (RESULT, CLEAR, *BAD)
        ),
        file=out,
    )
    by_kind = collections.Counter((case["what"], outcome) for case, outcome, _ in results)
    for (what, outcome), count in sorted(by_kind.items()):
        print(f"    {what:40s} {outcome:12s} {count}", file=out)
    for case, outcome, detail in results:
        if outcome in BAD:
            print(f"  {outcome.upper()} case {case['id']} ({case['what']}):\n{detail}", file=out)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400, help="cases (half images)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=20, help="seconds per case")
    parser.add_argument("--model", default=None, help="a SavedModel or serving dir for predict")
    parser.add_argument(
        "--keep",
        default=None,
        metavar="DIR",
        help="write the cases' files here (default: a temporary dir)",
    )
    args = parser.parse_args(argv)
    workdir = args.keep or tempfile.mkdtemp(prefix="tiedflow-fuzz-")
    os.makedirs(workdir, exist_ok=True)
    start = time.time()
    cases = make_cases(args.cases, args.seed)
    for i, case in enumerate(cases):
        case["id"] = i
    ingestion = fuzz_ingestion(cases, args.timeout, workdir)
    counts = summarize("ingestion", ingestion)
    model = args.model or train_small_model(workdir)
    counts += summarize("tiedflow predict", fuzz_predict(cases, model, args.timeout, workdir))
    bad = sum(counts[o] for o in BAD)
    print(
        f"fuzz: seed {args.seed}, {args.cases} cases in {time.time() - start:.0f} s: "
        f"{'OK' if not bad else f'{bad} ended in a traceback, a hang or accepted damage'}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
