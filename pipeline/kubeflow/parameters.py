"""The compiled pipeline's run parameters, derived from the knob registry (names.knobs).

A knob declared `run_parameter=True` becomes a RuntimeParameter of its type
(a tuple travels as comma-separated text) with its help as the description the
KFP UI shows; `tiedflow submit --help` lists the same names.
"""

from __future__ import annotations

from names.knobs import run_parameters

# name -> (KFP type, what the KFP UI shows), in the registry's order.
RUNTIME_PARAMETERS: dict[str, tuple[type, str]] = {
    knob.name: (knob.property_type, knob.help) for knob in run_parameters()
}
# Without a default in the spec: they name the user's own storage (no local
# output dir to derive them from).
REQUIRED_PARAMETERS: tuple[str, ...] = tuple(
    knob.name for knob in run_parameters() if not knob.in_config
)
