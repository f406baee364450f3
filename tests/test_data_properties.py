"""What comes from the data reaches the executors at run time, from the Examples
artifact: never from the config or the pipeline wiring."""

from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components import data_properties, evaluator, trainer, transform
from names import CLASS_NAMES_PROPERTY, IMAGE_SHAPE_PROPERTY, SPLIT_EXAMPLES_PROPERTY
from pipeline.config import PipelineConfig
from pipeline.dag import create_pipeline
from trainer.hparams import DATA_SETTINGS, HParams


def examples(names=("cat", "dog", "fox"), shape="28,20,3", train=1234):
    artifact = standard_artifacts.Examples()
    artifact.uri = "/data/examples"
    if names is not None:
        artifact.set_string_custom_property(CLASS_NAMES_PROPERTY, json.dumps(list(names)))
    if shape is not None:
        artifact.set_string_custom_property(IMAGE_SHAPE_PROPERTY, shape)
    if train is not None:
        artifact.set_int_custom_property(SPLIT_EXAMPLES_PROPERTY.format(split="train"), train)
    return artifact


def test_parsing():
    assert data_properties.parse_image_shape("8,8,1") == (8, 8, 1)
    assert data_properties.parse_class_names('["0", "1"]') == ["0", "1"]
    for bad in ("8,8", "8,8,2", "a,b,c", "0,8,1"):
        with pytest.raises(ValueError, match="image_shape"):
            data_properties.parse_image_shape(bad)
    with pytest.raises(ValueError, match="class_names"):
        data_properties.parse_class_names('["only"]')
    with pytest.raises(ValueError, match="no 'class_names' property"):
        data_properties.class_names(examples(names=None))
    with pytest.raises(ValueError, match="no 'train_examples' property"):
        data_properties.split_examples(examples(train=None), "train")
    with pytest.raises(ValueError, match="0 examples in its 'train' split"):
        data_properties.split_examples(examples(train=0), "train")


def test_the_wiring_carries_no_data_settings():
    """Built for one data set, the compiled pipeline works for any: the Trainer's
    custom_config has no image shape or classes, the EvalConfig no class list."""
    components = {c.id: c for c in create_pipeline(PipelineConfig(image_size=28)).components}
    custom = json.loads(components["Trainer"].exec_properties["custom_config"])
    assert not set(DATA_SETTINGS) & set(custom) and "image_size" not in custom
    custom = json.loads(components["Transform"].exec_properties["custom_config"])
    assert not set(DATA_SETTINGS) & set(custom)
    eval_config = proto_utils.json_to_proto(
        components["Evaluator"].exec_properties["eval_config"], tfma.EvalConfig()
    )
    assert all(not s.binarize.class_ids.values for s in eval_config.metrics_specs)


def test_trainer_executor_adds_shape_and_classes_to_custom_config():
    props = {specs.CUSTOM_CONFIG_KEY: json.dumps({"width": 16})}
    done = trainer.with_data_settings(props, examples())
    hp = HParams.from_custom_config(json.loads(done[specs.CUSTOM_CONFIG_KEY]))
    assert hp.input_shape == (28, 20, 3) and hp.class_names == ("cat", "dog", "fox")
    assert hp.train_examples == 1234  # the recorded count: no split is read to count it
    assert hp.width == 16
    assert json.loads(props[specs.CUSTOM_CONFIG_KEY]) == {"width": 16}  # input untouched


def test_transform_executor_adds_the_channels_to_custom_config():
    """preprocessing_fn standardizes per channel: its executor tells it how many."""
    props = {specs.CUSTOM_CONFIG_KEY: json.dumps({"code_version": "abc"})}
    done = transform.with_channels(props, examples(shape="28,20,3"))
    assert json.loads(done[specs.CUSTOM_CONFIG_KEY]) == {"code_version": "abc", "image_channels": 3}
    assert json.loads(props[specs.CUSTOM_CONFIG_KEY]) == {"code_version": "abc"}


def test_transform_analyzes_the_training_split_only():
    from tfx.proto import transform_pb2

    components = {c.id: c for c in create_pipeline(PipelineConfig()).components}
    splits = components["Transform"].exec_properties["splits_config"]
    if isinstance(splits, str):
        splits = proto_utils.json_to_proto(splits, transform_pb2.SplitsConfig())
    assert list(splits.analyze) == ["train"] and list(splits.transform) == []


def test_evaluator_executor_completes_the_class_list():
    components = {c.id: c for c in create_pipeline(PipelineConfig()).components}
    props = dict(components["Evaluator"].exec_properties)
    done = evaluator.with_classes(props, examples(names=[str(i) for i in range(11)]))
    eval_config = proto_utils.json_to_proto(done[specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
    per_class = [s for s in eval_config.metrics_specs if s.binarize.HasField("class_ids")]
    assert list(per_class[0].binarize.class_ids.values) == list(range(11))


def test_the_report_reads_the_examples():
    components = {c.id: c for c in create_pipeline(PipelineConfig()).components}
    assert "examples" in components["EvaluationReport"].inputs
