"""Evaluator that treats an empty baseline (first run) as no baseline.

`components.baseline.LatestPushedModel` always outputs a Model; on a first run
it is empty. TFX's Evaluator then has to run without a baseline, so that only
the absolute thresholds decide; this executor drops such a baseline before
handing over to TFX's own executor.

`accuracy_threshold` is a knob (see components.knobs): a Kubeflow runtime
parameter can set it per run, and the executor writes it into the EvalConfig
as the lower bound of the overall accuracy.
"""
import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs
from tfx import v1 as tfx
from tfx.utils import proto_utils

from components.baseline import has_model
from components.knobs import add_knob, pop_knob
from pipeline.eval_config import set_accuracy_threshold

ACCURACY_THRESHOLD_KEY = "accuracy_threshold"
ACCURACY_CLASS = "SparseCategoricalAccuracy"


def apply_knobs(exec_properties: dict) -> dict:
    """A copy of `exec_properties` with the accuracy threshold in the EvalConfig."""
    props = dict(exec_properties)
    threshold = pop_knob(props, ACCURACY_THRESHOLD_KEY, float)
    key = standard_component_specs.EVAL_CONFIG_KEY
    if threshold is None or not props.get(key):
        return props
    eval_config = proto_utils.json_to_proto(props[key], tfma.EvalConfig())
    # The bound is an overall-slice threshold; eval_config knows where it is.
    if not set_accuracy_threshold(eval_config, threshold):
        raise ValueError(f"accuracy_threshold: the EvalConfig has no overall {ACCURACY_CLASS} "
                         "value threshold to set")
    props[key] = proto_utils.proto_to_json(eval_config)
    return props


class Executor(tfx_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        exec_properties = apply_knobs(exec_properties)
        key = standard_component_specs.BASELINE_MODEL_KEY
        if key in input_dict:
            input_dict = dict(input_dict)
            input_dict[key] = [a for a in input_dict[key] if has_model(a)]
            if not input_dict[key]:
                del input_dict[key]
        return super().Do(input_dict, output_dict, exec_properties)


class Evaluator(tfx.components.Evaluator):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, *, accuracy_threshold=None, **kwargs):
        super().__init__(**kwargs)
        add_knob(self, ACCURACY_THRESHOLD_KEY, accuracy_threshold, float)
