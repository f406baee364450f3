"""Per-run knobs of TFX's own components (Trainer, Evaluator, Pusher), typed in their spec.

TFX's Kubeflow V2 compiler turns a RuntimeParameter into a pipeline parameter
only when it is a whole execution property: one inside a proto (TrainArgs,
EvalConfig, PushDestination) or inside a JSON dict (custom_config) cannot be
compiled. So a knob users change per run is an execution property of its own,
and the executor folds it into the property TFX's executor reads.

The project's own components declare their knobs in their ComponentSpec. TFX's
Trainer, Evaluator and Pusher build their stock spec inside `__init__` and
reject any other spec class there, so `WithKnobs` lets the stock `__init__`
run and then rebuilds the spec as a subclass whose PARAMETERS add the knobs:
the knobs are then declared, typed (a wrong value or a RuntimeParameter of
the wrong type fails when the pipeline is built) and compiled like any other
property. `FoldKnobs` is the executor side: it takes each knob out of the
properties and hands its value to the knob's `fold`, which writes it where
TFX's executor expects it. Locally a knob holds the config's plain value, so
a local run and a Kubeflow run execute the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tfx.types.component_spec import ExecutionParameter

from names.knobs import BY_NAME, ConfigError

Fold = Callable[[dict, Any], None]


def _ignore(props: dict, value: Any) -> None:
    del props, value


@dataclasses.dataclass(frozen=True)
class Knob:
    """A per-run execution property: its name, type and where its value goes.

    `fold(props, value)` writes the value into the execution properties TFX's
    executor reads (a proto field, custom_config); the default ignores it,
    for a knob that only keys the cache (a code fingerprint). `setting`: the
    knob of names.knobs it carries. A `required` knob fails closed: missing
    when the pipeline is built, or missing or unparsable when the executor
    runs, it is an error naming the setting, never a silent default."""

    name: str
    type: type
    fold: Fold = _ignore
    setting: str = ""
    required: bool = False

    @classmethod
    def declared(
        cls, setting: str, fold: Fold = _ignore, *, name: str = "", required: bool = True
    ) -> Knob:
        """The knob carrying setting `setting`, typed as names.knobs declares it."""
        return cls(name or setting, BY_NAME[setting].property_type, fold, setting, required)

    def missing(self, where: str) -> ConfigError:
        return ConfigError(
            f"setting {self.setting or self.name!r}: {where} has no value for "
            f"it; give one (--set {self.setting or self.name}=..., or the run "
            "parameter of that name on Kubeflow)"
        )


CODE_VERSION = Knob("code_version", str)  # a fingerprint of the executor's code


def fold_knobs(knobs, exec_properties: dict) -> dict:
    """A copy of `exec_properties` with every knob taken out and folded in.

    A required knob that is missing or does not parse as its type raises
    ConfigError: a gate without its bound must not pass."""
    props = dict(exec_properties)
    for knob in knobs:
        value = props.pop(knob.name, None)
        if value is None:
            if knob.required:
                raise knob.missing("the component's execution properties")
            continue
        try:
            typed = knob.type(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"setting {knob.setting or knob.name!r}: {value!r} is not a "
                f"valid {knob.type.__name__}"
            ) from None
        knob.fold(props, typed)
    return props


class FoldKnobs:
    """Executor mixin: folds the class's KNOBS before TFX's own `Do` runs."""

    KNOBS: tuple = ()

    def Do(self, input_dict, output_dict, exec_properties):
        return super().Do(input_dict, output_dict, fold_knobs(self.KNOBS, exec_properties))


class WithKnobs:
    """Component mixin: adds the class's KNOBS to a stock TFX component's spec.

    Knob values come as keyword arguments beside the stock ones; None leaves
    a knob unset."""

    KNOBS: tuple = ()
    _knob_spec_class: type | None = None

    def __init__(self, **kwargs):
        values = {k.name: _coerce(k, kwargs.pop(k.name, None)) for k in self.KNOBS}
        for knob in self.KNOBS:
            if knob.required and values[knob.name] is None:
                raise knob.missing(f"{type(self).__name__}(...)")
        super().__init__(**kwargs)
        spec = self.spec
        self.spec = self._spec_class(type(spec))(
            **spec.exec_properties,
            **spec.inputs,
            **spec.outputs,
            **{name: value for name, value in values.items() if value is not None},
        )

    @classmethod
    def _spec_class(cls, stock: Any) -> type:
        made = cls.__dict__.get("_knob_spec_class")
        if made is None:
            params = {k.name: ExecutionParameter(type=k.type, optional=True) for k in cls.KNOBS}
            made = type(
                f"{stock.__name__}WithKnobs",
                (stock,),
                {"PARAMETERS": {**stock.PARAMETERS, **params}, "__module__": cls.__module__},
            )
            cls._knob_spec_class = made
        return made


def _coerce(knob: Knob, value: Any) -> Any:
    """An int given for a float knob becomes a float (a config's `1` for 1.0)."""
    if knob.type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
