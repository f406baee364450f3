"""Transform whose preprocessing_fn learns the image's channels from the Examples artifact.

trainer.preprocessing standardizes each channel, so it must know how many
there are; the pipeline is built without knowing the data (on Kubeflow `data`
is a run parameter), so the executor reads the shape ImageExampleGen recorded
(components.data_properties) and adds the channels to the custom_config that
TFX's executor binds to `preprocessing_fn`. Everything else is TFX's Transform.
"""

from __future__ import annotations

from tfx.components.transform import component as tfx_component
from tfx.components.transform import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs as specs
from tfx.utils import json_utils

from components.data_properties import image_shape
from trainer.preprocessing import CHANNELS_KEY


def with_channels(exec_properties: dict, examples) -> dict:
    """A copy of `exec_properties` whose custom_config carries the data's channels."""
    props = dict(exec_properties)
    custom_config = json_utils.loads(props.get(specs.CUSTOM_CONFIG_KEY) or "null") or {}
    custom_config[CHANNELS_KEY] = image_shape(examples)[2]
    props[specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(custom_config)
    return props


class Executor(tfx_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        examples = input_dict[specs.EXAMPLES_KEY][0]
        return super().Do(input_dict, output_dict, with_channels(exec_properties, examples))


class Transform(tfx_component.Transform):
    """tfx.components.Transform, its preprocessing_fn told the data's channels."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
