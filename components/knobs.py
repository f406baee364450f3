"""Per-run knobs as top-level execution properties of a component.

TFX's Kubeflow V2 compiler turns a RuntimeParameter into a pipeline parameter
only when it is a whole execution property: one inside a proto (TrainArgs,
EvalConfig, PushDestination) or inside a JSON dict (custom_config) cannot be
compiled. So a knob users change per run becomes a typed property of its own,
and the component's executor folds it back where TFX expects it. Locally the
knob holds the config's plain value, so both runs execute the same code.
"""
from __future__ import annotations

from typing import Any

from tfx.dsl.components.base import base_component
from tfx.orchestration import data_types


def add_knob(component: base_component.BaseComponent, name: str, value: Any,
             ptype: type) -> None:
    """Sets execution property `name` (a plain value or a RuntimeParameter)."""
    if value is None:
        return
    if isinstance(value, data_types.RuntimeParameter):
        if value.ptype is not ptype:
            raise TypeError(f"knob {name!r}: runtime parameter {value.name!r} has type "
                            f"{value.ptype.__name__}, expected {ptype.__name__}")
    elif ptype is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif not isinstance(value, ptype) or isinstance(value, bool):
        raise TypeError(f"knob {name!r}: expected {ptype.__name__}, got {value!r}")
    component.exec_properties[name] = value


def pop_knob(exec_properties: dict, name: str, ptype: type):
    """Removes knob `name` from the properties TFX's executor sees; its value or None."""
    value = exec_properties.pop(name, None)
    return None if value is None else ptype(value)
