"""ImageExampleGen's Beam pipeline: read, decode in parallel, map classes, resize, split.

No list of all examples is held anywhere, and no image crosses a Beam stage
boundary: a runner (DirectRunner above all, in one process or with workers)
keeps a stage's whole output until the next stage reads it, so images that
crossed one would all be in memory at once. Each pass that needs what an
earlier pass learnt (a side input ends a stage) reads the source again
instead (`reread`; reading and decoding a record costs about 10 us):
1. the profile (labels, sizes, colour) and each image's (label, split hash);
   from these the class list, the target shape and the per-class split
   cutoffs (a class's count and, up to split.EXACT_SPLIT_LIMIT, its hashes);
2. each converted image's (split, class id, ink): the example counts and the
   ink tertiles of the training split;
3. the examples: a single DoFn converts, splits and serializes, a batch at a
   time, with one tagged output per split, written in the same stage.
Decoding and encoding of tf.Examples run in tfx_bsl's C++ coders, batched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.transforms.stats import ApproximateQuantilesCombineFn
from apache_beam.transforms.window import GlobalWindows

from ingestion import images, sources, tfrecords
from ingestion.data_checks import Profile, checked, class_names, merge, tally
from ingestion.errors import DataError
from ingestion.examples import mean_ink, serialized_examples
from ingestion.settings import IngestSettings
from ingestion.split import EXACT_SPLIT_LIMIT, class_cutoff, split_hash
from names import INGESTION_SUMMARY_FILE

SPLITS = ("train", "eval")
SUMMARY_FILE = INGESTION_SUMMARY_FILE


class RawImage(NamedTuple):
    key: str  # stable and unique: decides the split
    label: object  # an int id or a str name, as the data gives it
    pixels: np.ndarray  # uint8 H x W x C at the data's own size
    colour: bool
    where: str  # file (and record) for error messages


class RawImageCoder(beam.coders.Coder):
    """RawImages as a tuple of primitives (Beam's fast coder) with the pixels as bytes:
    several times cheaper than pickling a NamedTuple that holds an array."""

    def __init__(self):
        self._tuple = beam.coders.FastPrimitivesCoder()

    def encode(self, image: RawImage) -> bytes:
        pixels = image.pixels
        return self._tuple.encode(
            (image.key, image.label, pixels.tobytes(), pixels.shape, image.colour, image.where)
        )

    def decode(self, encoded: bytes) -> RawImage:
        key, label, pixels, shape, colour, where = self._tuple.decode(encoded)
        return RawImage(
            key, label, np.frombuffer(pixels, dtype=np.uint8).reshape(shape), colour, where
        )

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return RawImage


beam.coders.registry.register_coder(RawImage, RawImageCoder)


def _digit_image(index: int) -> RawImage:
    pixels, label = sources.digit(index)
    return RawImage(f"digits-{index:05d}", label, pixels[:, :, None], False, f"digits[{index}]")


def _image_file(readable, root: str, max_pixels: int) -> RawImage:
    path = readable.metadata.path
    try:
        data = readable.read()
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err})") from None
    pixels, colour = images.decode(data, path, max_pixels)
    label = os.path.basename(os.path.dirname(path))
    return RawImage(
        os.path.relpath(path, root) if "://" not in root else path, label, pixels, colour, path
    )


def _tfrecord_images(path: str, settings: IngestSettings):
    name = os.path.basename(path)
    for index, label, pixels, colour in tfrecords.read_images(path, settings):
        yield RawImage(f"{name}:{index}", label, pixels, colour, f"{path}: record {index}")


class ReadImages(beam.PTransform):
    """The `data` source as RawImages, and the paths of files left out (hidden,
    not an image by suffix) as a second output."""

    def __init__(self, settings: IngestSettings):
        super().__init__()
        self.settings = settings

    def expand(self, pipeline):
        settings = self.settings
        kind = sources.check_source(settings.data)
        if kind == "digits":
            raw = (
                pipeline
                | "Indices" >> beam.Create(range(sources.DIGITS_COUNT))
                | "Digit" >> beam.Map(_digit_image).with_output_types(RawImage)
            )
            return raw, pipeline | "NoneSkipped" >> beam.Create([])
        if kind == "tfrecord":
            files = sources.tfrecord_files(settings.data)
            raw = (
                pipeline
                | "Files" >> beam.Create(files)
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadRecords"
                >> beam.FlatMap(_tfrecord_images, settings).with_output_types(RawImage)
            )
            return raw, pipeline | "NoneSkipped" >> beam.Create([])
        root = settings.data.rstrip("/")
        patterns = [f"{root}/{name}/*" for name in sources.class_folders(root)]
        matched = pipeline | "ClassFolders" >> beam.Create(patterns) | "Match" >> fileio.MatchAll()
        wanted, skipped = matched | "ImagesOnly" >> beam.Partition(
            lambda m, _: 0 if images.is_image_name(m.path) else 1, 2
        )
        raw = (
            wanted
            | "Open" >> fileio.ReadMatches()
            | "Decode"
            >> beam.Map(_image_file, root, settings.max_pixels).with_output_types(RawImage)
        )
        return raw, skipped | "SkippedPath" >> beam.Map(lambda m: m.path)


def _class_id(image: RawImage, ids: dict) -> int:
    label = str(image.label)
    if label not in ids:
        raise DataError(
            f"{image.where}: label {label!r} is not among the classes "
            f"({', '.join(list(ids)[:20])}); fix the label or the `classes` setting"
        )
    return ids[label]


def target_shape(
    sizes: dict, colour_share: float, settings: IngestSettings
) -> tuple[int, int, int]:
    """(H, W, C) every image is converted to: the settings', else the most common
    size (ties: the larger) and colour if most images are colour. `sizes`:
    {(H, W): (images, where)}."""
    if settings.image_size:
        height = width = settings.image_size
    else:
        (height, width), _ = max(sizes.items(), key=lambda item: (item[1][0], item[0]))
    channels = settings.channels or (3 if colour_share > 0.5 else 1)
    return height, width, channels


def _facts(image: RawImage, ids: dict, shape: tuple, seed: int) -> tuple[int, str, float]:
    """(class id, split hash, mean ink of the converted image): what the split and
    the ink tertiles need, small enough to cross stage boundaries cheaply."""
    pixels = images.convert(image.pixels, *shape)  # no copy when already that shape
    return _class_id(image, ids), split_hash(seed, image.key), mean_ink(pixels)


def _label_hash(image: RawImage, seed: int) -> tuple[str, str]:
    """(label as text, split hash): all the split cutoffs need, taken as the images are read."""
    return str(image.label), split_hash(seed, image.key)


class _ClassHashes(beam.CombineFn):
    """A label's [examples, split hashes], the hashes dropped past
    EXACT_SPLIT_LIMIT examples: all its eval cutoff needs (split.class_cutoff),
    in memory that stops growing there."""

    def create_accumulator(self):
        return [0, []]

    def add_input(self, acc, hashed):
        acc[0] += 1
        if acc[0] > EXACT_SPLIT_LIMIT:
            acc[1] = None
        elif acc[1] is not None:
            acc[1].append(hashed)
        return acc

    def merge_accumulators(self, accumulators):
        count, hashes = 0, []
        for more, their_hashes in accumulators:
            count += more
            if hashes is None or their_hashes is None or count > EXACT_SPLIT_LIMIT:
                hashes = None
            else:
                hashes.extend(their_hashes)
        return [count, hashes]

    def extract_output(self, acc):
        return acc


def _cutoff(label_count_hashes, ids: dict, percent: int):
    """(class id, eval cutoff) of one label; nothing for a label that is not
    a class (the facts pass names the record that has it)."""
    label, (count, hashes) = label_count_hashes
    if label in ids:
        yield ids[label], class_cutoff(label, count, hashes, percent)


def _split_index(hashed: str, cutoff: str) -> int:
    """Index into SPLITS: eval holds the smallest hashes of each class."""
    return 1 if hashed <= cutoff else 0


def _place(facts: tuple, cutoffs: dict) -> tuple[int, int, float]:
    """(split index, class id, ink)."""
    class_id, hashed, ink = facts
    return _split_index(hashed, cutoffs[class_id]), class_id, ink


class _Profile(beam.CombineFn):
    """The labels, image sizes and colour of all images, in one pass as they are read
    (ingestion.data_checks.Profile: per label and size, a count and one record)."""

    def create_accumulator(self):
        return {}, {}, 0, 0

    def add_input(self, acc, image: RawImage):
        labels, sizes, colour, count = acc
        tally(labels, image.label, image.where)
        tally(sizes, image.pixels.shape[:2], image.where)
        return labels, sizes, colour + bool(image.colour), count + 1

    def merge_accumulators(self, accumulators):
        labels, sizes, colour, count = {}, {}, 0, 0
        for more, more_sizes, more_colour, more_count in accumulators:
            merge(labels, more)
            merge(sizes, more_sizes)
            colour, count = colour + more_colour, count + more_count
        return labels, sizes, colour, count

    def extract_output(self, acc):
        labels, sizes, colour, count = acc
        return Profile(
            {k: tuple(v) for k, v in labels.items()},
            {k: tuple(v) for k, v in sizes.items()},
            colour / count if count else float("nan"),
            count,
        )


class _SplitStats(beam.CombineFn):
    """Examples per (split, class id) and the ink tertiles of the training split
    (Beam's approximate quantiles, fed as before), in one pass over the placed facts:
    ({split: [(class id, examples)]}, (edge, edge))."""

    def __init__(self):
        self._quantiles = ApproximateQuantilesCombineFn.create(num_quantiles=4)

    def create_accumulator(self):
        return {}, self._quantiles.create_accumulator()

    def add_input(self, acc, placed):
        counts, inks = acc
        split, class_id, ink = placed
        counts[split, class_id] = counts.get((split, class_id), 0) + 1
        if split == 0:
            inks = self._quantiles.add_input(inks, ink)
        return counts, inks

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        counts: dict = {}
        for more, _ in accumulators:
            for key, n in more.items():
                counts[key] = counts.get(key, 0) + n
        return counts, self._quantiles.merge_accumulators([inks for _, inks in accumulators])

    def compact(self, acc):
        return acc[0], self._quantiles.compact(acc[1])

    def extract_output(self, acc):
        counts, inks = acc
        q = self._quantiles.extract_output(inks)
        per_split = {
            name: [(class_id, n) for (split, class_id), n in counts.items() if split == i]
            for i, name in enumerate(SPLITS)
        }
        return per_split, ((q[1], q[2]) if len(q) == 4 else (0.0, 0.0))


class _ToExamples(beam.DoFn):
    """Each image to its serialized tf.Example, output under its split's tag; the
    examples are encoded a batch at a time (ingestion.examples.serialized_examples)."""

    def __init__(self, seed: int):
        self.seed = seed

    def start_bundle(self):
        self._batch: list = []
        self._edges = None

    def process(self, image: RawImage, ids, shape, cutoffs, edges):
        class_id = ids[str(image.label)]  # known: _facts checked it
        split = _split_index(split_hash(self.seed, image.key), cutoffs[class_id])
        self._batch.append((split, images.convert(image.pixels, *shape), class_id))
        self._edges = edges
        if len(self._batch) >= tfrecords.BATCH:
            yield from self._flush(lambda value: value)

    def finish_bundle(self):
        yield from self._flush(GlobalWindows.windowed_value)

    def _flush(self, wrap):
        if not self._batch:
            return
        splits, pixels, class_ids = zip(*self._batch)
        self._batch = []
        for split, example in zip(
            splits, serialized_examples(np.stack(pixels), class_ids, self._edges)
        ):
            yield beam.pvalue.TaggedOutput(SPLITS[split], wrap(example))


class DataSummary(NamedTuple):
    class_names: list
    image_shape: tuple  # (H, W, C)
    counts: dict  # split -> [examples per class id]
    skipped_files: int
    ink_edges: tuple

    def to_json(self) -> str:
        return json.dumps(self._asdict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DataSummary:
        values = json.loads(text)
        return cls(
            **{
                **values,
                "image_shape": tuple(values["image_shape"]),
                "ink_edges": tuple(values["ink_edges"]),
            }
        )


def _summary(_, names, shape, stats, skipped) -> DataSummary:
    counts, edges = stats
    per_split = {}
    for split, pairs in counts.items():
        found = dict(pairs)
        per_split[split] = [int(found.get(i, 0)) for i in range(len(names))]
    return DataSummary(list(names), tuple(shape), per_split, int(skipped), tuple(edges))


class ImagesToExamples(beam.PTransform):
    """RawImages -> {split: serialized tf.Examples}, plus a one-element DataSummary.

    `reread(label)` reads the same images again as a new PCollection (the
    executor passes ReadImages); each later pass reads them anew, so that no
    image crosses a stage boundary. Without it, the given images are reused
    (small data in tests)."""

    def __init__(
        self,
        settings: IngestSettings,
        skipped: beam.PCollection | None = None,
        reread: Callable[[str], beam.PCollection] | None = None,
    ):
        super().__init__()
        self.settings = settings
        self.skipped = skipped
        self.reread = reread

    def expand(self, raw):
        settings = self.settings
        again = self.reread or (lambda label: raw)
        skipped = (
            self.skipped
            if self.skipped is not None
            else (raw.pipeline | "NoSkipped" >> beam.Create([]))
        )
        skipped_count = beam.pvalue.AsSingleton(
            skipped | "CountSkipped" >> beam.combiners.Count.Globally()
        )
        # Pass 1, as the images are read: the profile (side inputs once the data set
        # passes the checks that need all of it), and (label, hash) pairs.
        profile = (
            raw
            | "Profile" >> beam.CombineGlobally(_Profile())
            | "CheckData" >> beam.Map(checked, settings, skipped_count)
        )
        names_pc = profile | "ClassNames" >> beam.Map(lambda p: class_names(p.labels, settings))
        names = beam.pvalue.AsSingleton(names_pc)
        ids = beam.pvalue.AsSingleton(  # name -> id, built once, not per image
            names_pc | "ClassIds" >> beam.Map(lambda ns: {n: i for i, n in enumerate(ns)})
        )
        shape = beam.pvalue.AsSingleton(
            profile
            | "TargetShape" >> beam.Map(lambda p: target_shape(p.sizes, p.colour_share, settings))
        )
        cutoffs = beam.pvalue.AsDict(
            raw
            | "LabelHash" >> beam.Map(_label_hash, settings.seed)
            | "ByClass" >> beam.CombinePerKey(_ClassHashes())
            | "Cutoff" >> beam.FlatMap(_cutoff, ids, settings.eval_percent)
        )

        # Pass 2: (class id, hash, ink) per converted image (exact: the images are
        # converted to measure them, which costs nothing when they already have the
        # target shape), placed in its split; the counts and the ink tertiles.
        stats_pc = (
            again("ReadForFacts")
            | "Facts" >> beam.Map(_facts, ids, shape, settings.seed)
            | "Place" >> beam.Map(_place, cutoffs)
            | "SplitStats" >> beam.CombineGlobally(_SplitStats())
        )
        stats = beam.pvalue.AsSingleton(stats_pc)
        edges = beam.pvalue.AsSingleton(stats_pc | "Edges" >> beam.Map(lambda st: st[1]))

        # Pass 3: the examples, once the side inputs are known.
        tagged = again("ReadForExamples") | "ToExamples" >> beam.ParDo(
            _ToExamples(settings.seed), ids, shape, cutoffs, edges
        ).with_outputs(*SPLITS)
        examples = {name: tagged[name] for name in SPLITS}

        summary = (
            raw.pipeline
            | "SummaryOnce" >> beam.Create([None])
            | "Summary" >> beam.Map(_summary, names, shape, stats, skipped_count)
        )
        return examples, summary


def write_summary(summary: DataSummary, directory: str) -> str:
    import tensorflow as tf

    path = os.path.join(directory, SUMMARY_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(summary.to_json())
    return path


def read_summary(directory: str) -> DataSummary:
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(directory, SUMMARY_FILE)) as f:
        return DataSummary.from_json(f.read())
