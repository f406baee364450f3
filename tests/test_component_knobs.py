"""Per-run knobs: top-level properties that executors fold back where TFX reads them."""
from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.utils import proto_utils

from components import evaluator, knobs, pusher, trainer
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline


@pytest.fixture(scope="module")
def components():
    config = PipelineConfig(train_steps=37, learning_rate=0.25, accuracy_threshold=0.42,
                            output_dir="/data/out")
    return {c.id: c for c in create_pipeline(config).components}


def test_local_pipeline_carries_the_config_values_as_knobs(components):
    assert components["Trainer"].exec_properties["train_steps"] == 37
    assert components["Trainer"].exec_properties["learning_rate"] == 0.25
    assert components["Evaluator"].exec_properties["accuracy_threshold"] == 0.42
    assert components["Pusher"].exec_properties["serving_dir"] == "/data/out/serving"


def test_trainer_knobs_reach_train_args_and_custom_config(components):
    props = dict(components["Trainer"].exec_properties)
    props.update(train_steps=5, learning_rate=0.5)  # as a runtime parameter would
    done = trainer.apply_knobs(props)
    assert "train_steps" not in done and "learning_rate" not in done
    args = proto_utils.json_to_proto(done["train_args"], tfx.proto.TrainArgs())
    assert args.num_steps == 5
    custom = json.loads(done["custom_config"])
    assert custom["train_steps"] == 5 and custom["learning_rate"] == 0.5
    assert props["train_steps"] == 5  # the caller's dict is left alone


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, path + (i,))
    else:
        yield path, value


def test_evaluator_knob_moves_only_the_accuracy_lower_bound(components):
    """Wherever the EvalConfig keeps it, only the configured bound (0.42) changes."""
    props = dict(components["Evaluator"].exec_properties, accuracy_threshold=0.77)
    done = evaluator.apply_knobs(props)
    before = dict(_leaves(json.loads(props["eval_config"])))
    after = dict(_leaves(json.loads(done["eval_config"])))
    assert before.keys() == after.keys()
    changed = {path: (before[path], after[path]) for path in before
               if before[path] != after[path]}
    assert changed, "the accuracy threshold was not set"
    for path, (old, new) in changed.items():
        assert "lower_bound" in path and old == pytest.approx(0.42), path
        assert new == pytest.approx(0.77), path
    assert "accuracy_threshold" not in done


def test_evaluator_knob_without_a_threshold_to_set_is_an_error():
    config = tfma.EvalConfig(metrics_specs=[tfma.MetricsSpec(
        metrics=[tfma.MetricConfig(class_name="ExampleCount")])])
    with pytest.raises(ValueError, match="accuracy_threshold"):
        evaluator.apply_knobs({"eval_config": proto_utils.proto_to_json(config),
                               "accuracy_threshold": 0.5})


def test_pusher_knob_sets_the_push_folder(components):
    props = dict(components["Pusher"].exec_properties, serving_dir="gs://models/digits")
    done = pusher.apply_knobs(props)
    destination = proto_utils.json_to_proto(done["push_destination"],
                                            tfx.proto.PushDestination())
    assert destination.filesystem.base_directory == "gs://models/digits"
    assert "serving_dir" not in done


def test_knob_types_are_checked():
    component = tfx.components.StatisticsGen(examples=tfx.dsl.Channel(
        type=tfx.types.standard_artifacts.Examples))
    knobs.add_knob(component, "steps", 3, int)
    knobs.add_knob(component, "rate", 1, float)
    assert component.exec_properties["rate"] == 1.0
    with pytest.raises(TypeError, match="steps"):
        knobs.add_knob(component, "steps", "3", int)
    with pytest.raises(TypeError, match="runtime parameter 'lr' has type str"):
        knobs.add_knob(component, "rate",
                       tfx.dsl.experimental.RuntimeParameter(name="lr", ptype=str), float)
