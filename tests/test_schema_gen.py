"""The `schema` setting: SchemaGen infers a schema or loads a curated file, and
ExampleValidator holds the data to it. Real TFDV statistics and TFX executors,
no pipeline run."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.orchestration.portable import data_types
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components import schema_gen, validator
from ingestion.errors import DataError
from ingestion.schema_file import content_digest, read_schema
from names import SCHEMA_FILE_PROPERTY
from pipeline.cli import main
from pipeline.config import ConfigError, PipelineConfig
from pipeline.dag import create_pipeline

SPLITS = ("train", "eval")


def _example(pixels, label, ink):
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=pixels)),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                "ink_density": tf.train.Feature(bytes_list=tf.train.BytesList(value=[ink])),
            }
        )
    ).SerializeToString()


@pytest.fixture(scope="module")
def statistics(tmp_path_factory):
    """An ExampleStatistics artifact as StatisticsGen writes it: labels 0-2, pixels 0-255."""
    root = tmp_path_factory.mktemp("stats")
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(root / "statistics")
    artifact.split_names = artifact_utils.encode_split_names(list(SPLITS))
    for split in SPLITS:
        records = str(root / f"{split}.tfrecord")
        with tf.io.TFRecordWriter(records) as writer:
            for i in range(30):
                writer.write(
                    _example(
                        [(i * 37 + j) % 256 for j in range(4)], i % 3, [b"light", b"heavy"][i % 2]
                    )
                )
        stats = tfdv.generate_statistics_from_tfrecord(records)
        io_utils.write_bytes_file(
            os.path.join(
                artifact_utils.get_split_uri([artifact], split),
                stats_artifact_utils.BINARY_PB_BASENAME,
            ),
            stats.SerializeToString(),
        )
    return artifact


def _schema_gen(statistics, tmp_path, schema_file=""):
    """Runs the project's SchemaGen executor; returns (schema, its output artifact)."""
    out = standard_artifacts.Schema()
    out.uri = str(tmp_path / "schema_out")
    schema_gen.Executor().Do(
        {"statistics": [statistics]},
        {"schema": [out]},
        {
            "infer_feature_shape": 1,
            "exclude_splits": "[]",
            "schema_file": schema_file,
            "code_version": "x",
        },
    )
    return tfdv.load_schema_text(os.path.join(out.uri, "schema.pbtxt")), out


def _write(path, schema) -> str:
    tfdv.write_schema_text(schema, str(path))
    return str(path)


def _curated(statistics, tmp_path):
    """The inferred schema with the label's domain narrowed to 0-1 (the data has 2)."""
    schema, _ = _schema_gen(statistics, tmp_path)
    label = tfdv.get_feature(schema, "label")
    label.int_domain.min, label.int_domain.max = 0, 1
    return _write(tmp_path / "curated.pbtxt", schema)


def test_without_a_file_the_schema_is_inferred_with_fixed_shapes(statistics, tmp_path):
    schema, out = _schema_gen(statistics, tmp_path)
    shapes = {f.name: [d.size for d in f.shape.dim] for f in schema.feature}
    assert shapes == {"pixels": [4], "label": [1], "ink_density": [1]}
    assert out.get_string_custom_property(SCHEMA_FILE_PROPERTY) == ""


def test_with_a_file_the_schema_is_that_file(statistics, tmp_path):
    path = _curated(statistics, tmp_path)
    schema, out = _schema_gen(statistics, tmp_path, path)
    assert schema == read_schema(path)
    assert tfdv.get_feature(schema, "label").int_domain.max == 1  # not re-inferred
    assert out.get_string_custom_property(SCHEMA_FILE_PROPERTY) == path


def test_data_violating_the_curated_schema_stops_the_validator_naming_all(statistics, tmp_path):
    path = _curated(statistics, tmp_path)
    _, schema = _schema_gen(statistics, tmp_path, path)
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    with pytest.raises(validator.DataAnomaliesError) as raised:
        validator.Executor().Do(
            {"statistics": [statistics], "schema": [schema]},
            {"anomalies": [anomalies]},
            {"exclude_splits": "[]"},
        )
    message = str(raised.value)
    for split in SPLITS:
        assert f"split {split!r}, feature 'label': Out-of-range values" in message
    assert f"update the schema file {path}" in message and "fix the data" in message


def test_data_matching_the_inferred_schema_passes_the_validator(statistics, tmp_path):
    path = _write(tmp_path / "inferred.pbtxt", _schema_gen(statistics, tmp_path)[0])
    _, schema = _schema_gen(statistics, tmp_path, path)
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    validator.Executor().Do(
        {"statistics": [statistics], "schema": [schema]},
        {"anomalies": [anomalies]},
        {"exclude_splits": "[]"},
    )


@pytest.mark.parametrize(
    "content, named",
    [
        (None, r"cannot be read \(No such file or directory\)"),
        (b"feature { name: 'pixels' type: INT shape { dim { size: 4 } } } oops", "text format"),
        (b"\xff\xfe\x00binary", "text format"),
        (b"", "has no features"),
        (
            b"feature { name: 'pixels' type: INT value_count { min: 4 max: 4 } }",
            "feature 'pixels' has no fixed shape",
        ),
    ],
)
def test_a_bad_schema_file_is_refused_by_name(statistics, tmp_path, content, named):
    path = tmp_path / "schema.pbtxt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=named) as raised:
        _schema_gen(statistics, tmp_path, str(path))
    assert str(path) in str(raised.value)
    with pytest.raises(ConfigError, match="setting 'schema'"):  # before a local run starts
        PipelineConfig(schema=str(path))


def test_a_bad_schema_file_exits_2_before_anything_runs(tmp_path, capsys):
    code = main(
        ["run", "--output-dir", str(tmp_path / "out"), "--set", f"schema={tmp_path / 'nope.pbtxt'}"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.pbtxt: cannot be read" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_driver_keys_the_cache_on_the_file_content(statistics, tmp_path):
    path = _curated(statistics, tmp_path)
    out = standard_artifacts.Schema()
    out.uri = str(tmp_path / "driver_out")

    def digest():
        info = data_types.ExecutionInfo(
            input_dict={"statistics": [statistics]},
            output_dict={"schema": [out]},
            exec_properties={"schema_file": path},
        )
        return schema_gen.Driver(None).run(info).exec_properties["schema_digest"].string_value

    first = digest()
    assert first == content_digest(path)
    schema = read_schema(path)
    tfdv.get_feature(schema, "label").int_domain.max = 2
    _write(path, schema)
    assert digest() != first


def test_the_graph_is_the_same_with_and_without_a_schema_file(statistics, tmp_path):
    path = _curated(statistics, tmp_path)

    def graph(config):
        pipeline = create_pipeline(config)
        return [
            (c.id, type(c).__name__, sorted(u.id for u in c.upstream_nodes))
            for c in pipeline.components
        ]

    assert graph(PipelineConfig()) == graph(PipelineConfig(schema=path))
    (loaded,) = [
        c for c in create_pipeline(PipelineConfig(schema=path)).components if c.id == "SchemaGen"
    ]
    assert loaded.exec_properties["schema_file"] == path


def test_schema_command_without_a_run_exits_2_saying_what_to_do(tmp_path, capsys):
    code = main(
        [
            "schema",
            "--output-dir",
            str(tmp_path / "none"),
            "--output",
            str(tmp_path / "schema.pbtxt"),
        ]
    )
    assert code == 2
    assert "`tiedflow run" in capsys.readouterr().err
    assert not (tmp_path / "schema.pbtxt").exists()
