"""The whole pipeline, run for real into a temporary output dir (shared per session)."""

import glob
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_tiedflow, tree_digest

from ingestion.split import digits_splits
from pipeline.local.outcome import read_outcome

pytestmark = pytest.mark.e2e


def pushed_versions(output_dir):
    serving = os.path.join(output_dir, "serving")
    return sorted(os.listdir(serving)) if os.path.isdir(serving) else []


def held_out_examples(output_dir):
    """Raw serialized eval-split tf.Examples written by ImageExampleGen."""
    files = glob.glob(
        os.path.join(
            output_dir, "pipeline_root", "ImageExampleGen", "examples", "*", "Split-eval", "*.gz"
        )
    )
    assert files, "no eval split written"
    raw = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    labels = [
        tf.train.Example.FromString(r).features.feature["label"].int64_list.value[0] for r in raw
    ]
    return raw, np.array(labels)


def test_first_run_is_blessed_and_pushes_one_model(pipeline_run):
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    assert "BLESSED and pushed to" in pipeline_run.stdout
    versions = pushed_versions(pipeline_run.output_dir)
    assert len(versions) == 1
    assert os.path.join(pipeline_run.output_dir, "serving", versions[0]) in pipeline_run.stdout
    outcome = read_outcome(os.path.join(pipeline_run.output_dir, "metadata.sqlite"), "tiedflow")
    assert outcome.blessed
    assert outcome.accuracy >= 0.95
    assert f"{outcome.accuracy:.4f}" in pipeline_run.stdout


def test_pushed_model_classifies_raw_examples_with_plain_tf(pipeline_run):
    version = pushed_versions(pipeline_run.output_dir)[0]
    model = tf.saved_model.load(os.path.join(pipeline_run.output_dir, "serving", version))
    raw, labels = held_out_examples(pipeline_run.output_dir)
    expected = digits_splits(8, 20, seed=42)["eval"]
    assert len(raw) == len(expected)
    out = model.signatures["serving_default"](examples=tf.constant(raw))
    predicted = out["class_ids"].numpy()
    assert (predicted == labels).mean() >= 0.95
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)

    # The raw-image signature gives the same answers on the same pixels.
    pixels = np.stack(
        [
            np.array(
                tf.train.Example.FromString(r).features.feature["pixels"].int64_list.value,
                dtype=np.uint8,
            ).reshape(8, 8)
            for r in raw
        ]
    )
    by_image = model.signatures["serving_images"](images=tf.constant(pixels))
    assert np.array_equal(by_image["class_ids"].numpy(), predicted)


def test_second_run_reuses_the_cache(pipeline_run, pipeline_rerun):
    """Unchanged code and data: every component is reused, nothing is pushed twice."""
    assert pipeline_rerun.returncode == 0, pipeline_rerun.stderr[-3000:]
    outcome = read_outcome(os.path.join(pipeline_rerun.output_dir, "metadata.sqlite"), "tiedflow")
    assert outcome.run_id not in pipeline_run.stdout  # a new run, not the first one re-read
    assert outcome.cached and all(outcome.cached.values()), outcome.cached
    assert outcome.blessed
    assert len(pushed_versions(pipeline_rerun.output_dir)) == 1


def test_failed_run_leaves_pushed_models_alone(failed_rerun, pushed_before_failure):
    """A TFRecord file cut inside its gzip stream: refused before training, by name."""
    failed, before = failed_rerun
    assert before  # there was a pushed model to lose
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert re.search(
        r"tiedflow: error: \S*bad\.tfrecord: record \d+ \(byte \d+ of the "
        r"uncompressed data\): the gzip stream is cut off before its end .*copy it "
        r"again from its source",
        failed.stderr,
    ), failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr + failed.stdout
    serving = os.path.join(failed.output_dir, "serving")
    assert pushed_versions(failed.output_dir) == before
    for version, digest in pushed_before_failure["versions"].items():
        assert tree_digest(os.path.join(serving, version)) == digest  # byte for byte
    trainer = os.path.join(failed.output_dir, "pipeline_root", "Trainer", "model")
    assert sorted(os.listdir(trainer)) == pushed_before_failure["trainer_outputs"]  # no training


def test_bad_data_path_exits_2_naming_it(tmp_path):
    result = run_tiedflow(
        "run", "--data", str(tmp_path / "missing-dir"), output_dir=str(tmp_path / "out")
    )
    assert result.returncode == 2
    assert "missing-dir" in result.stderr
    assert not os.path.exists(tmp_path / "out" / "serving")
