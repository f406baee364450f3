"""Evaluator that treats an empty baseline (first run) as no baseline.

`components.baseline.LatestPushedModel` always outputs a Model; on a first run
it is empty. TFX's Evaluator then has to run without a baseline, so that only
the absolute thresholds decide; this executor drops such a baseline before
handing over to TFX's own executor.
"""
from tfx.components.evaluator import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs
from tfx import v1 as tfx

from components.baseline import has_model


class Executor(tfx_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        key = standard_component_specs.BASELINE_MODEL_KEY
        if key in input_dict:
            input_dict = dict(input_dict)
            input_dict[key] = [a for a in input_dict[key] if has_model(a)]
            if not input_dict[key]:
                del input_dict[key]
        return super().Do(input_dict, output_dict, exec_properties)


class Evaluator(tfx.components.Evaluator):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
