"""Evaluator that treats an empty baseline (first run) as no baseline.

`components.baseline.LatestPushedModel` always outputs a Model; on a first run
it is empty. TFX's Evaluator then has to run without a baseline, so that only
the absolute thresholds decide; this executor drops such a baseline before
handing over to TFX's own executor.

The class count comes from the data: the executor reads the class names on
its `examples` input (components.data_properties) and completes the
EvalConfig's class list (per-class binarization, macro F1) at run time, so
one compiled pipeline evaluates any data set.

Knobs (components.knobs): `accuracy_threshold` becomes the lower bound of the
overall accuracy in the EvalConfig (evaluation.eval_config leaves it to this
knob); `code_version` keys TFX's cache on the project's TFMA metrics, which
TFMA loads by module name inside the Evaluator.

The overall accuracy and the failed thresholds (in words, classes by name)
are recorded on the output artifacts (names.EVAL_ACCURACY_PROPERTY,
FAILED_THRESHOLDS_PROPERTY): run history reads them from ML Metadata alone.
"""

import json

import tensorflow_model_analysis as tfma
from tfx.components.evaluator import component as tfx_component
from tfx.components.evaluator import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.baseline import has_model
from components.data_properties import class_names
from components.knobs import CODE_VERSION, FoldKnobs, Knob, WithKnobs
from evaluation.eval_config import ACCURACY, set_accuracy_threshold, set_classes
from names import EVAL_ACCURACY_PROPERTY, FAILED_THRESHOLDS_PROPERTY


def _fold_accuracy_threshold(props: dict, threshold: float) -> None:
    eval_config = proto_utils.json_to_proto(props[specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
    set_accuracy_threshold(eval_config, threshold)
    props[specs.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(eval_config)


KNOBS = (Knob.declared("accuracy_threshold", _fold_accuracy_threshold), CODE_VERSION)


def with_classes(exec_properties: dict, examples) -> dict:
    """A copy of `exec_properties` whose EvalConfig lists the data's classes."""
    props = dict(exec_properties)
    eval_config = proto_utils.json_to_proto(props[specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
    set_classes(eval_config, len(class_names(examples)))
    props[specs.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(eval_config)
    return props


class Executor(FoldKnobs, tfx_executor.Executor):
    KNOBS = KNOBS

    def Do(self, input_dict, output_dict, exec_properties):
        key = specs.BASELINE_MODEL_KEY
        if key in input_dict:
            input_dict = dict(input_dict)
            input_dict[key] = [a for a in input_dict[key] if has_model(a)]
            if not input_dict[key]:
                del input_dict[key]
        examples = input_dict[specs.EXAMPLES_KEY][0]
        exec_properties = with_classes(exec_properties, examples)
        result = super().Do(input_dict, output_dict, exec_properties)
        record_outcome(output_dict, class_names(examples))
        return result


def record_outcome(output_dict, names) -> None:
    """Writes the overall accuracy on the evaluation and the failed thresholds on
    the blessing (custom properties, published with them)."""
    from reporting import evaluation_data

    evaluation = output_dict[specs.EVALUATION_KEY][0]
    ev = evaluation_data.load_evaluation(evaluation.uri, names)
    accuracy = ev.value(evaluation_data.OVERALL, ACCURACY)
    if accuracy is not None:
        evaluation.set_float_custom_property(EVAL_ACCURACY_PROPERTY, accuracy)
    for blessing in output_dict.get(specs.BLESSING_KEY, []):
        blessing.set_string_custom_property(
            FAILED_THRESHOLDS_PROPERTY, json.dumps(evaluation_data.describe_failures(ev))
        )


class Evaluator(WithKnobs, tfx_component.Evaluator):
    KNOBS = KNOBS
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
