"""ImageExampleGen's Beam pipeline: read, decode in parallel, map classes, resize, split.

No list of all examples is held anywhere: images travel as PCollections, and
only small summaries (the class list, the most common image size, per-class
split cutoffs, the ink tertiles) are computed as side inputs. The result is
one PCollection of serialized tf.Examples per split, and a summary of what
was learnt from the data (`DataSummary`), which the executor records on the
Examples artifact.
"""
from __future__ import annotations

import json
import os
from typing import NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio

from ingestion import images, sources, tfrecords
from ingestion.errors import DataError
from ingestion.examples import Record, mean_ink, to_example
from ingestion.settings import IngestSettings
from ingestion.split import eval_cutoff, split_hash

SPLITS = ("train", "eval")
SUMMARY_FILE = "ingestion.json"


class RawImage(NamedTuple):
    key: str  # stable and unique: decides the split
    label: object  # an int id or a str name, as the data gives it
    pixels: np.ndarray  # uint8 H x W x C at the data's own size
    colour: bool
    where: str  # file (and record) for error messages


def _digit_image(index: int) -> RawImage:
    pixels, label = sources.digit(index)
    return RawImage(f"digits-{index:05d}", label, pixels[:, :, None], False,
                    f"digits[{index}]")


def _image_file(readable, root: str, max_pixels: int) -> RawImage:
    path = readable.metadata.path
    try:
        data = readable.read()
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err})") from None
    pixels, colour = images.decode(data, path, max_pixels)
    label = os.path.basename(os.path.dirname(path))
    return RawImage(os.path.relpath(path, root) if "://" not in root else path, label,
                    pixels, colour, path)


def _tfrecord_images(path: str, settings: IngestSettings):
    name = os.path.basename(path)
    for index, raw in tfrecords.read_file(path):
        where = f"{path}: record {index}"
        label, pixels, colour = tfrecords.decode_record(raw, where, settings)
        yield RawImage(f"{name}:{index}", label, pixels, colour, where)


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
            raw = (pipeline | "Indices" >> beam.Create(range(sources.DIGITS_COUNT))
                   | "Digit" >> beam.Map(_digit_image))
            return raw, pipeline | "NoneSkipped" >> beam.Create([])
        if kind == "tfrecord":
            files = sources.tfrecord_files(settings.data)
            raw = (pipeline | "Files" >> beam.Create(files)
                   | "SpreadFiles" >> beam.Reshuffle()
                   | "ReadRecords" >> beam.FlatMap(_tfrecord_images, settings))
            return raw, pipeline | "NoneSkipped" >> beam.Create([])
        root = settings.data.rstrip("/")
        patterns = [f"{root}/{name}/*" for name in sources.class_folders(root)]
        matched = (pipeline | "ClassFolders" >> beam.Create(patterns)
                   | "Match" >> fileio.MatchAll())
        wanted, skipped = matched | "ImagesOnly" >> beam.Partition(
            lambda m, _: 0 if images.is_image_name(m.path) else 1, 2)
        raw = (wanted | "Open" >> fileio.ReadMatches()
               | "Decode" >> beam.Map(_image_file, root, settings.max_pixels))
        return raw, skipped | "SkippedPath" >> beam.Map(lambda m: m.path)


def class_names(labels: list, settings: IngestSettings) -> list[str]:
    """The classes in id order: the `classes` setting, else from the labels found.

    Integer labels (and class folders named by numbers) are ids: they must be
    0..K-1 with none missing. Names are sorted. Fewer than two classes is an error."""
    if settings.classes:
        names = [str(c) for c in settings.classes]
    elif all(isinstance(l, int) or (isinstance(l, str) and l.isdigit()) for l in labels):
        ids = sorted({int(l) for l in labels})
        if ids and ids[0] < 0:
            raise DataError(f"label {ids[0]}: class ids must be 0 or more")
        missing = sorted(set(range(ids[-1] + 1)) - set(ids)) if ids else []
        if missing:
            raise DataError(f"class ids must be 0..{ids[-1]} with none missing, but no example "
                            f"has the id(s) {', '.join(map(str, missing[:10]))}; relabel the "
                            "data or name the classes with the `classes` setting")
        names = [str(i) for i in range(ids[-1] + 1)] if ids else []
    else:
        names = sorted({str(l) for l in labels})
    if len(names) < 2:
        raise DataError(f"the data has {len(names)} class(es) ({', '.join(names) or 'none'}): "
                        "a classifier needs at least two")
    return names


def _class_id(image: RawImage, ids: dict) -> tuple[int, RawImage]:
    label = str(image.label)
    if label not in ids:
        raise DataError(f"{image.where}: label {label!r} is not among the classes "
                        f"({', '.join(list(ids)[:20])}); fix the label or the `classes` setting")
    return ids[label], image


def target_shape(shape_counts: list, colour_share: float,
                 settings: IngestSettings) -> tuple[int, int, int]:
    """(H, W, C) every image is converted to: the settings', else the most common
    size (ties: the larger) and colour if most images are colour."""
    if settings.image_size:
        height = width = settings.image_size
    else:
        (height, width), _ = max(shape_counts, key=lambda item: (item[1], item[0]))
    channels = settings.channels or (3 if colour_share > 0.5 else 1)
    return height, width, channels


def _convert(item, shape) -> Record:
    class_id, image = item
    pixels = images.convert(image.pixels, *shape)
    return Record(pixels, class_id, image.key)


class DataSummary(NamedTuple):
    class_names: list
    image_shape: tuple  # (H, W, C)
    counts: dict  # split -> [examples per class id]
    skipped_files: int
    ink_edges: tuple

    def to_json(self) -> str:
        return json.dumps(self._asdict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DataSummary":
        values = json.loads(text)
        return cls(**{**values, "image_shape": tuple(values["image_shape"]),
                      "ink_edges": tuple(values["ink_edges"])})


def _summary(_, names, shape, edges, skipped, **counts) -> DataSummary:
    per_split = {}
    for split, pairs in counts.items():
        found = dict(pairs)
        per_split[split] = [int(found.get(i, 0)) for i in range(len(names))]
    return DataSummary(list(names), tuple(shape), per_split, int(skipped), tuple(edges))


class ImagesToExamples(beam.PTransform):
    """RawImages -> {split: serialized tf.Examples}, plus a one-element DataSummary."""

    def __init__(self, settings: IngestSettings, skipped: Optional[beam.PCollection] = None):
        super().__init__()
        self.settings = settings
        self.skipped = skipped

    def expand(self, raw):
        settings = self.settings
        names_pc = (raw | "Labels" >> beam.Map(lambda r: r.label)
                    | "DistinctLabels" >> beam.Distinct()
                    | "AllLabels" >> beam.combiners.ToList()
                    | "ClassNames" >> beam.Map(class_names, settings))
        names = beam.pvalue.AsSingleton(names_pc)
        ids = beam.pvalue.AsSingleton(  # name -> id, built once, not per image
            names_pc | "ClassIds" >> beam.Map(lambda ns: {n: i for i, n in enumerate(ns)}))
        labelled = raw | "ClassId" >> beam.Map(_class_id, ids)
        shape_counts = beam.pvalue.AsSingleton(
            raw | "Shape" >> beam.Map(lambda r: r.pixels.shape[:2])
            | "CountShapes" >> beam.combiners.Count.PerElement()
            | "AllShapes" >> beam.combiners.ToList())
        colour = beam.pvalue.AsSingleton(
            raw | "Colour" >> beam.Map(lambda r: float(r.colour))
            | "ColourShare" >> beam.combiners.Mean.Globally())
        shape_pc = (raw.pipeline | "One" >> beam.Create([None])
                    | "TargetShape" >> beam.Map(lambda _, counts, share: target_shape(
                        counts, share, settings), shape_counts, colour))
        shape = beam.pvalue.AsSingleton(shape_pc)
        records = labelled | "Convert" >> beam.Map(_convert, shape)

        seed, percent = settings.seed, settings.eval_percent
        hashed = records | "Hash" >> beam.Map(lambda r: (split_hash(seed, r.key), r))
        cutoffs = beam.pvalue.AsDict(
            hashed | "HashByClass" >> beam.Map(lambda hr: (hr[1].label, hr[0]))
            | "ByClass" >> beam.GroupByKey()
            | "Cutoff" >> beam.Map(lambda kv, names: (kv[0], eval_cutoff(names[kv[0]], kv[1],
                                                                         percent)), names))
        train, eval_ = hashed | "Split" >> beam.Partition(
            lambda hr, _, cuts: 1 if hr[0] <= cuts[hr[1].label] else 0, 2, cutoffs)
        parts = {"train": train | "DropHash[train]" >> beam.Map(lambda hr: hr[1]),
                 "eval": eval_ | "DropHash[eval]" >> beam.Map(lambda hr: hr[1])}

        edges_pc = (parts["train"] | "Ink" >> beam.Map(lambda r: mean_ink(r.pixels))
                    | "InkTertiles" >> beam.ApproximateQuantiles.Globally(4)
                    | "Edges" >> beam.Map(lambda q: (q[1], q[2]) if len(q) == 4 else (0.0, 0.0)))
        edges = beam.pvalue.AsSingleton(edges_pc)
        examples = {name: part | f"Serialize[{name}]" >> beam.Map(
            lambda r, e: to_example(r, e).SerializeToString(), edges)
            for name, part in parts.items()}

        counts = {name: beam.pvalue.AsList(
            part | f"Class[{name}]" >> beam.Map(lambda r: r.label)
            | f"CountClasses[{name}]" >> beam.combiners.Count.PerElement())
            for name, part in parts.items()}
        skipped = self.skipped if self.skipped is not None else (
            raw.pipeline | "NoSkipped" >> beam.Create([]))
        summary = (raw.pipeline | "SummaryOnce" >> beam.Create([None])
                   | "Summary" >> beam.Map(
                       _summary, names, shape, edges,
                       beam.pvalue.AsSingleton(skipped | "CountSkipped"
                                               >> beam.combiners.Count.Globally()),
                       **counts))
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
