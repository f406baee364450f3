"""Writing a split's serialized examples shuffled, without holding them all.

TFX's WriteSplit shuffles with a Beam Reshuffle, which a distributed runner
does on disk but DirectRunner does in memory: the whole split, serialized,
was most of ImageExampleGen's peak (1.8 GB at 180k 28x28 examples against
0.85 GB without it; benchmarks/bench_example_gen.py). The shuffle here goes
through files instead, in two steps:
1. each example goes to one of `shards` buckets by a checksum of its bytes (a
   fixed pseudo-random choice); each bundle appends its examples to its own
   uncompressed temporary file per bucket;
2. per bucket, its temporary files are read back (about RECORDS_PER_SHARD
   examples), shuffled in memory and written as one gzipped TFRecord file of
   the split, then deleted.
Every output file is a random sample of the split in random order, so a
reader that goes through the files one after another (with a modest shuffle
buffer) sees the classes mixed, as after WriteSplit; memory is one bucket.
"""

from __future__ import annotations

import os
import random
import uuid
import zlib

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from ingestion.tfrecords import read_file

RECORDS_PER_SHARD = 20_000
FILE_PREFIX = "data_tfrecord"  # TFX's name for a split's files


def shard_count(examples: int) -> int:
    return max(1, -(-examples // RECORDS_PER_SHARD))


class _WriteBuckets(beam.DoFn):
    """Appends each example to this bundle's temporary file of its bucket;
    yields (bucket, temporary path) once per file at the end of the bundle."""

    def __init__(self, temp_dir: str):
        self.temp_dir = temp_dir

    def start_bundle(self):
        self._writers: dict = {}

    def process(self, example: bytes, shards: int):
        bucket = zlib.crc32(example) % shards
        writer = self._writers.get(bucket)
        if writer is None:
            import tensorflow as tf

            path = os.path.join(self.temp_dir, f"{bucket:05d}-{uuid.uuid4().hex}.tfrecord")
            writer = self._writers[bucket] = (path, tf.io.TFRecordWriter(path))
        writer[1].write(example)

    def finish_bundle(self):
        for bucket, (path, writer) in self._writers.items():
            writer.close()
            yield GlobalWindows.windowed_value((bucket, path))
        self._writers = {}


def _write_bucket(bucket_paths, split_dir: str, shards: int, seed: int) -> str:
    """Reads a bucket's temporary files, shuffles their examples and writes them
    as the split's file number `bucket`; deletes the temporary files."""
    import tensorflow as tf

    tf.io.gfile.makedirs(split_dir)
    bucket, paths = bucket_paths
    paths = sorted(paths)
    examples = [record for path in paths for _, record in read_file(path)]
    random.Random(f"{seed}:{bucket}").shuffle(examples)
    out = os.path.join(split_dir, f"{FILE_PREFIX}-{bucket:05d}-of-{shards:05d}.gz")
    with tf.io.TFRecordWriter(out, options="GZIP") as writer:
        for example in examples:
            writer.write(example)
    for path in paths:
        tf.io.gfile.remove(path)
    return out


class WriteShuffled(beam.PTransform):
    """Serialized examples -> gzipped TFRecord files in `split_dir`, shuffled
    (see the module docstring). `examples_count` is a singleton side input with
    the split's number of examples (it sets the number of files); `temp_dir` a
    folder every worker can write and read (beside the output), which the
    caller creates and removes."""

    def __init__(self, split_dir: str, temp_dir: str, examples_count, seed: int = 0):
        super().__init__()
        self.split_dir, self.temp_dir = split_dir, temp_dir
        self.examples_count, self.seed = examples_count, seed

    def expand(self, examples):
        shards = (
            examples.pipeline
            | "Once" >> beam.Create([None])
            | "Shards" >> beam.Map(lambda _, n: shard_count(n), self.examples_count)
        )
        shards = beam.pvalue.AsSingleton(shards)
        return (
            examples
            | "WriteBuckets" >> beam.ParDo(_WriteBuckets(self.temp_dir), shards)
            | "ByBucket" >> beam.GroupByKey()
            | "WriteFiles" >> beam.Map(_write_bucket, self.split_dir, shards, self.seed)
        )
