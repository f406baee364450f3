"""names.knobs is the one declaration of every knob: everything that lists knobs
is derived from it, and these tests fail when any of them drifts from it."""

from __future__ import annotations

import dataclasses
import os

import pytest
from conftest import REPO

from components import evaluator, pusher, schema_gen, trainer
from components.example_gen import SETTINGS as EXAMPLE_GEN_SETTINGS
from names import component_ids as ids
from names.knobs import BY_NAME, KNOBS, ConfigError, received_by
from pipeline import config as config_lib
from pipeline.cli import build_parser
from pipeline.config import PipelineConfig
from pipeline.dag import create_pipeline
from pipeline.fingerprints import ENTRY_MODULES, code_versions
from pipeline.kubeflow.parameters import REQUIRED_PARAMETERS, RUNTIME_PARAMETERS
from trainer.hparams import HParams


def test_the_config_has_a_field_per_registered_knob_with_its_default():
    fields = {f.name: f.default for f in dataclasses.fields(PipelineConfig)}
    assert fields == {k.name: k.default for k in KNOBS if k.in_config}


def test_set_takes_exactly_the_settable_knobs_and_parses_by_their_type():
    assert config_lib.settable_keys() == sorted(k.name for k in KNOBS if k.settable and k.in_config)
    for knob in KNOBS:
        if knob.name in config_lib.settable_keys():
            raw = ",".join(knob.default) if knob.kind is tuple else str(knob.default)
            assert config_lib.parse_value(knob.name, raw) == knob.default, knob.name
    with pytest.raises(ConfigError, match="unknown setting 'output_dir'"):
        config_lib.parse_value("output_dir", "x")


@pytest.mark.parametrize(
    "knob", [k for k in KNOBS if k.check is not None and k.in_config], ids=lambda k: k.name
)
def test_the_config_rejects_a_value_outside_each_knobs_declared_range(knob):
    bad = {int: -(10**12), float: -1e9, str: "", tuple: ("a", "a")}[knob.kind]
    if knob.check(bad):
        pytest.skip(f"{bad!r} is inside {knob.name}'s range")
    with pytest.raises(ConfigError, match=f"setting '{knob.name}'"):
        PipelineConfig(**{knob.name: bad})


def test_training_defaults_are_the_registrys():
    hparams = HParams()
    for name in HParams.names():
        if name in BY_NAME and name != "warm_start":
            assert getattr(hparams, name) == BY_NAME[name].default, name


@pytest.mark.parametrize(
    "component_class, component_id",
    [
        (trainer.Trainer, ids.TRAINER),
        (evaluator.Evaluator, ids.EVALUATOR),
        (pusher.Pusher, ids.PUSHER),
        (schema_gen.SchemaGen, ids.SCHEMA_GEN),
    ],
)
def test_each_component_declares_the_knobs_the_registry_routes_to_it(component_class, component_id):
    declared = {k.setting: k.type for k in component_class.KNOBS if k.setting}
    assert declared == {k.name: k.property_type for k in received_by(component_id)}


def test_image_example_gen_takes_the_knobs_the_registry_routes_to_it():
    assert EXAMPLE_GEN_SETTINGS == {
        k.name: k.property_type for k in received_by(ids.IMAGE_EXAMPLE_GEN)
    }


def test_kubeflow_run_parameters_and_submit_help_are_the_registrys():
    assert RUNTIME_PARAMETERS == {
        k.name: (k.property_type, k.help) for k in KNOBS if k.run_parameter
    }
    assert REQUIRED_PARAMETERS == ("serving_dir",)
    submit = build_parser()._subparsers._group_actions[0].choices["submit"]
    help_text = next(a.help for a in submit._actions if a.dest == "set")
    assert all(name in help_text for name in RUNTIME_PARAMETERS)


def test_docs_knob_table_is_generated_from_the_registry():
    """docs/knobs.md is `python -m pipeline.config` (make docs-knobs writes it)."""
    with open(os.path.join(REPO, "docs", "knobs.md")) as f:
        assert f.read() == config_lib.knob_page()


def test_every_component_id_has_an_entry_and_every_project_component_a_fingerprint():
    pipeline = create_pipeline(PipelineConfig(warm_start="true"), code_versions=code_versions())
    versions = code_versions()
    for component in pipeline.components:
        assert component.id in ENTRY_MODULES, component.id
        if ENTRY_MODULES[component.id]:
            assert len(versions[component.id]) == 16, component.id
            props = component.exec_properties
            carried = props.get("code_version") or props.get("custom_config", "")
            assert versions[component.id] in carried, component.id
    assert set(ENTRY_MODULES) == {v for k, v in vars(ids).items() if k.isupper()}
