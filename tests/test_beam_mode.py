"""The local default Beam mode, chosen by the data's estimated example count."""

import tensorflow as tf

from ingestion.sources import estimated_examples
from pipeline.beam_args import local_default

MULTI = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def _tfrecords(path, records: int, options=None) -> None:
    example = tf.train.Example()
    example.features.feature["pixels"].int64_list.value[:] = list(range(64))
    with tf.io.TFRecordWriter(str(path), options=options) as writer:
        for _ in range(records):
            writer.write(example.SerializeToString())


def test_the_estimate_is_close_for_plain_and_gzipped_files(tmp_path):
    _tfrecords(tmp_path / "a.tfrecord", 3000)
    assert estimated_examples(str(tmp_path / "a.tfrecord")) == 3000
    for i in range(3):  # the first file's first bytes stand for all of them
        _tfrecords(tmp_path / f"b-{i}.tfrecord.gz", 20000, options="GZIP")
    assert abs(estimated_examples(str(tmp_path / "b-*.tfrecord.gz")) - 60000) < 600


def test_a_folder_counts_its_images_not_hidden_or_other_files(tmp_path):
    for name in (
        "cat/1.png",
        "cat/2.jpg",
        "cat/.3.png",
        "cat/notes.txt",
        ".cache/4.png",
        "dog/5.png",
    ):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert estimated_examples(str(tmp_path)) == 3
    assert estimated_examples("digits") is None
    assert estimated_examples("gs://bucket/data/*.tfrecord") is None


def test_small_data_runs_in_one_process_large_data_on_every_core(tmp_path, monkeypatch):
    import pipeline.beam_args as beam_args

    assert local_default("digits", [], cores=2) == []
    _tfrecords(tmp_path / "a.tfrecord", 100)
    data = str(tmp_path / "a.tfrecord")
    assert local_default(data, [], cores=2) == []
    monkeypatch.setattr(beam_args, "MULTI_PROCESSING_FROM_EXAMPLES", 100)
    assert local_default(data, [], cores=2) == MULTI
    assert local_default(data, [], cores=16)[-1] == "--direct_num_workers=8"
    assert local_default(data, [], cores=1) == []  # nothing to spread over
    for flag in (
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
        "--runner=PortableRunner",
    ):
        assert local_default(data, [flag], cores=2) == []  # the user's choice wins
