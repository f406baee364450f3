"""What components.tfx_internals relies on in TFX's private methods, pinned: a TFX
release that changes one fails the test named for it. And no private TFX or TFMA
name is used anywhere else in the project. Real TFX executors, no mocks."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pathlib

import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import DirectOptions
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components import example_gen, pusher, tfx_internals
from pipeline.dag import DEFAULT_BEAM_ARGS
from pushed_models import push as push_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = (
    "components",
    "pipeline",
    "evaluation",
    "trainer",
    "ingestion",
    "reporting",
    "pushed_models",
)
ADAPTER = ROOT / "components" / "tfx_internals.py"
LIBRARIES = (
    "tfx",
    "tensorflow_model_analysis",
    "tensorflow_transform",
    "tensorflow_data_validation",
    "tfx_bsl",
    "ml_metadata",
)


# make_beam_pipeline ----------------------------------------------------------


def _example_gen_executor(args, make_fn=None):
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(args), make_beam_pipeline_fn=make_fn
    )
    return example_gen.Executor(context)


def test_make_beam_pipeline_reads_the_components_beam_pipeline_args():
    args = [*DEFAULT_BEAM_ARGS, "--direct_running_mode=multi_processing", "--direct_num_workers=3"]
    pipeline = tfx_internals.make_beam_pipeline(_example_gen_executor(args))
    direct = pipeline.options.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", 3)


def test_make_beam_pipeline_uses_the_orchestrators_function_when_given():
    import apache_beam as beam

    made = beam.Pipeline(argv=["--direct_num_workers=5"])
    executor = _example_gen_executor(DEFAULT_BEAM_ARGS, make_fn=lambda: made)
    assert tfx_internals.make_beam_pipeline(executor) is made


# mark_pushed, mark_not_pushed -------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A Trainer's Model artifact holding a small SavedModel."""
    root = tmp_path_factory.mktemp("model")
    module = tf.Module()
    module.v = tf.Variable([1.0])
    module.f = tf.function(lambda x: x * module.v, input_signature=[tf.TensorSpec([1])])
    tf.saved_model.save(module, str(root / "saved"))
    artifact = standard_artifacts.Model()
    artifact.uri = str(root / "trainer")
    push_lib.copy_model(str(root / "saved"), os.path.join(artifact.uri, "Format-Serving"))
    return artifact


def _blessing(tmp_path, blessed: int):
    artifact = standard_artifacts.ModelBlessing()
    artifact.uri = str(tmp_path / f"blessing{blessed}")
    artifact.set_int_custom_property("blessed", blessed)
    return artifact


def _custom(artifact) -> dict:
    """{name: value} of an artifact's custom properties."""
    found = {}
    for name, value in artifact.mlmd_artifact.custom_properties.items():
        found[name] = getattr(value, value.WhichOneof("value"))
    return found


def _push_with(executor, model, blessing, tmp_path, name):
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / name / "pushed")
    destination = pusher_pb2.PushDestination()
    destination.filesystem.base_directory = str(tmp_path / name / "serving")
    executor.Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination)},
    )
    return pushed


def test_mark_pushed_writes_pushed_destination_and_version():
    """What pipeline.local.outcome and recovery read to tell where a model went."""
    pushed = standard_artifacts.PushedModel()
    tfx_internals.mark_pushed(tfx_pusher.Executor(), pushed, "/serving/17", "17")
    assert _custom(pushed) == {
        "pushed": 1,
        "pushed_destination": "/serving/17",
        "pushed_version": "17",
    }
    not_pushed = standard_artifacts.PushedModel()
    tfx_internals.mark_not_pushed(tfx_pusher.Executor(), not_pushed)
    assert _custom(not_pushed) == {"pushed": 0}


@pytest.mark.parametrize("blessed", [1, 0])
def test_the_projects_pusher_marks_the_artifact_as_tfxs_own_pusher_does(model, tmp_path, blessed):
    """The same property names, types and `pushed` value as TFX's stock executor
    on the same model; the destination and version are our own push's."""
    ours = _push_with(
        pusher.SafePushExecutor(), model, _blessing(tmp_path, blessed), tmp_path, "ours"
    )
    stock = _push_with(
        tfx_pusher.Executor(), model, _blessing(tmp_path, blessed), tmp_path, "stock"
    )
    ours_props, stock_props = _custom(ours), _custom(stock)
    assert {k: type(v) for k, v in ours_props.items()} == {
        k: type(v) for k, v in stock_props.items()
    }
    assert ours_props["pushed"] == stock_props["pushed"] == blessed
    if blessed:
        version = ours_props["pushed_version"]
        assert ours_props["pushed_destination"] == str(tmp_path / "ours" / "serving" / version)
        assert os.path.isfile(os.path.join(ours_props["pushed_destination"], "saved_model.pb"))
    else:
        assert not os.path.exists(tmp_path / "ours" / "serving")


# nothing private elsewhere ----------------------------------------------------


def _library_modules(tree) -> set:
    """Names bound to a module (or a name) of TFX, TFMA, TFT, TFDV, tfx_bsl, MLMD."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            source = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                full = f"{source}.{alias.name}" if source else alias.name
                if full.split(".")[0] in LIBRARIES:
                    bound.add((alias.asname or alias.name).split(".")[0])
    return bound


def _library_bases(module) -> dict:
    """{class name: [its bases from the libraries]} of the module's classes."""
    found = {}
    for name, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ == module.__name__:
            found[name] = [
                base for base in cls.__mro__[1:] if base.__module__.split(".")[0] in LIBRARIES
            ]
    return found


def private_library_uses(path: pathlib.Path, root: pathlib.Path = ROOT) -> list:
    """`lib._x`, and `self._x` / `super()._x` where `_x` comes from a library base class."""
    relative = path.relative_to(root)
    module_name = ".".join(relative.with_suffix("").parts)
    tree = ast.parse(path.read_text(), str(path))
    libraries = _library_modules(tree)
    bases = _library_bases(importlib.import_module(module_name)) if libraries else {}
    found = []
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)] + [tree]:
        inherited = bases.get(getattr(cls, "name", None), [])
        for node in ast.walk(cls):
            if (
                not isinstance(node, ast.Attribute)
                or not node.attr.startswith("_")
                or node.attr.startswith("__")
            ):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in libraries:
                found.append(f"{relative}:{node.lineno}: {owner.id}.{node.attr}")
            elif (
                (isinstance(owner, ast.Name) and owner.id == "self")
                or (isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super")
            ) and any(node.attr in vars(base) for base in inherited):
                found.append(
                    f"{relative}:{node.lineno}: {node.attr} of "
                    f"{[b.__name__ for b in inherited if node.attr in vars(b)][0]}"
                )
    return sorted(set(found))


def test_private_library_names_are_used_only_in_the_adapter():
    found = [
        use
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ADAPTER
        for use in private_library_uses(path)
    ]
    assert found == []


def test_the_scan_finds_private_uses(tmp_path, monkeypatch):
    """The scan is not blind: a subclass calling what the adapter calls is found."""
    probe = tmp_path / "probe_private_use.py"
    probe.write_text(
        "from tfx.components.pusher import executor as tfx_executor\n"
        "class E(tfx_executor.Executor):\n"
        "    def _own(self):\n"
        "        return self._own_value\n"
        "    def Do(self, i, o, e):\n"
        "        self._MarkNotPushed(o)\n"
        "        return tfx_executor._PUSHED_KEY, self._own()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert private_library_uses(probe, tmp_path) == [
        "probe_private_use.py:6: _MarkNotPushed of Executor",
        "probe_private_use.py:7: tfx_executor._PUSHED_KEY",
    ]
