"""Per-run knobs: typed properties in each component's spec, folded by its executor
into the one place TFX's executor reads them."""

from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.utils import proto_utils

from components import evaluator, knobs, pusher, trainer
from components.knobs import fold_knobs
from evaluation.eval_config import ACCURACY_CLASS, UNSET_ACCURACY_BOUND
from names.knobs import ConfigError
from pipeline.config import PipelineConfig
from pipeline.dag import create_pipeline


@pytest.fixture(scope="module")
def components():
    config = PipelineConfig(
        train_steps=37, learning_rate=0.25, accuracy_threshold=0.42, output_dir="/data/out"
    )
    versions = {"Trainer": "t-code", "Evaluator": "e-code", "Pusher": "p-code"}
    return {c.id: c for c in create_pipeline(config, code_versions=versions).components}


def test_local_pipeline_carries_the_config_values_as_declared_knobs(components):
    for component_id, values in {
        "Trainer": {"train_steps": 37, "learning_rate": 0.25, "code_version": "t-code"},
        "Evaluator": {"accuracy_threshold": 0.42, "code_version": "e-code"},
        "Pusher": {"serving_dir": "/data/out/serving", "code_version": "p-code"},
    }.items():
        component = components[component_id]
        for name, value in values.items():
            assert component.exec_properties[name] == value, (component_id, name)
            assert name in component.spec.PARAMETERS, (component_id, name)  # declared, typed


def test_train_steps_and_learning_rate_travel_one_way(components):
    """Neither is in the custom_config the pipeline writes: only the knobs carry them."""
    props = components["Trainer"].exec_properties
    custom = json.loads(props["custom_config"])
    assert "train_steps" not in custom and "learning_rate" not in custom
    assert "code_version" not in custom
    assert proto_utils.json_to_proto(props["train_args"], tfx.proto.TrainArgs()).num_steps == 0


def test_trainer_knobs_reach_train_args_and_custom_config(components):
    props = dict(components["Trainer"].exec_properties)
    props.update(train_steps=5, learning_rate=0.5)  # as a runtime parameter would
    done = fold_knobs(trainer.KNOBS, props)
    assert not {"train_steps", "learning_rate", "code_version"} & done.keys()
    args = proto_utils.json_to_proto(done["train_args"], tfx.proto.TrainArgs())
    assert args.num_steps == 5
    custom = json.loads(done["custom_config"])
    assert custom["learning_rate"] == 0.5 and "train_steps" not in custom
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


def test_evaluator_knob_sets_only_the_overall_accuracy_lower_bound(components):
    props = dict(components["Evaluator"].exec_properties, accuracy_threshold=0.77)
    done = fold_knobs(evaluator.KNOBS, props)
    before = dict(_leaves(json.loads(props["eval_config"])))
    after = dict(_leaves(json.loads(done["eval_config"])))
    changed = {path: after[path] for path in after if before.get(path) != after[path]}
    assert len(changed) == 1, changed
    ((path, value),) = changed.items()
    assert "lower_bound" in path and value == pytest.approx(0.77)
    assert "accuracy_threshold" not in done


def test_evaluator_knob_without_a_threshold_to_set_is_an_error():
    config = tfma.EvalConfig(
        metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount")])]
    )
    with pytest.raises(ValueError, match="accuracy_threshold"):
        fold_knobs(
            evaluator.KNOBS,
            {"eval_config": proto_utils.proto_to_json(config), "accuracy_threshold": 0.5},
        )


def test_pusher_knob_sets_the_push_folder(components):
    props = dict(components["Pusher"].exec_properties, serving_dir="gs://models/digits")
    done = fold_knobs(pusher.KNOBS, props)
    destination = proto_utils.json_to_proto(done["push_destination"], tfx.proto.PushDestination())
    assert destination.filesystem.base_directory == "gs://models/digits"
    assert "serving_dir" not in done


def test_knob_types_are_checked_when_the_pipeline_is_built():
    examples = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples)
    model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    made = trainer.Trainer(run_fn="m.f", examples=examples, train_steps=3, learning_rate=1)
    assert made.exec_properties["learning_rate"] == 1.0  # an int for a float knob
    with pytest.raises(TypeError, match="train_steps"):
        trainer.Trainer(run_fn="m.f", examples=examples, train_steps="3", learning_rate=0.1)
    with pytest.raises(TypeError, match="learning_rate"):
        trainer.Trainer(
            run_fn="m.f",
            examples=examples,
            train_steps=3,
            learning_rate=tfx.dsl.experimental.RuntimeParameter(name="lr", ptype=str),
        )
    ok = pusher.Pusher(
        model=model,
        serving_dir=tfx.dsl.experimental.RuntimeParameter(name="serving_dir", ptype=str),
    )
    assert isinstance(ok.spec, type(ok).SPEC_CLASS)  # still the stock spec's kind
    assert knobs.CODE_VERSION.name in ok.spec.PARAMETERS


# Gates fail closed: a knob that carries a bound or a destination is never skipped.


def test_a_missing_required_knob_is_an_error_when_the_pipeline_is_built():
    examples = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples)
    with pytest.raises(ConfigError, match="setting 'learning_rate'"):
        trainer.Trainer(run_fn="m.f", examples=examples, train_steps=3)
    model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    with pytest.raises(ConfigError, match="setting 'accuracy_threshold'"):
        evaluator.Evaluator(examples=examples, model=model)


@pytest.mark.parametrize(
    "value, match", [(None, "has no value for it"), ("high", "'high' is not a valid float")]
)
def test_a_missing_or_unparsable_threshold_is_an_error_when_the_evaluator_runs(
    components, value, match
):
    props = dict(components["Evaluator"].exec_properties)
    props.pop("accuracy_threshold")
    if value is not None:
        props["accuracy_threshold"] = value  # as a run parameter of the wrong kind would
    with pytest.raises(ConfigError, match=f"setting 'accuracy_threshold': .*{match}"):
        fold_knobs(evaluator.KNOBS, props)


def test_the_compiled_accuracy_bound_blesses_nothing_until_the_knob_sets_it(components):
    """The EvalConfig's placeholder lower bound is above any accuracy."""
    eval_config = proto_utils.json_to_proto(
        components["Evaluator"].exec_properties["eval_config"], tfma.EvalConfig()
    )
    bounds = [
        t.threshold.value_threshold.lower_bound.value
        for spec in eval_config.metrics_specs
        for m in spec.metrics
        for t in m.per_slice_thresholds
        if t.threshold.HasField("value_threshold")
        and m.class_name == ACCURACY_CLASS
        and t.threshold.value_threshold.HasField("lower_bound")
        and tfma.SlicingSpec() in t.slicing_specs
    ]
    assert bounds == [UNSET_ACCURACY_BOUND] and UNSET_ACCURACY_BOUND > 1
