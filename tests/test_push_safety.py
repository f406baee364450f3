"""Pushes are all or nothing under a version of their own; half-written version
folders are ignored by every reader (pushed_models.versions) and reported."""

from __future__ import annotations

import json
import os

import pytest
import tensorflow as tf

from ingestion.errors import DataError
from pushed_models import push as push_lib
from pushed_models import versions
from pushed_models.predict import resolve_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """A small complete SavedModel (graph, one variables shard, an asset)."""
    path = str(tmp_path_factory.mktemp("model") / "model")
    module = tf.Module()
    module.v = tf.Variable([1.0, 2.0])
    module.f = tf.function(lambda x: x * module.v, input_signature=[tf.TensorSpec([2])])
    tf.saved_model.save(module, path)
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, "assets.extra", "prediction.json"), "w") as f:
        json.dump({"class_names": ["a", "b"]}, f)
    return path


def _plant_broken(serving: str, model_dir: str) -> dict:
    """What interrupted copies and pushes leave behind, each newer than any model."""
    import shutil

    paths = {
        name: os.path.join(serving, name)
        for name in ("1999999001", "1999999002", "1999999003", "1999999004", ".staging-42-dead")
    }
    os.makedirs(paths["1999999001"])  # empty
    os.makedirs(paths["1999999002"])  # graph without variables
    shutil.copy(os.path.join(model_dir, "saved_model.pb"), paths["1999999002"])
    shutil.copytree(model_dir, paths["1999999003"])  # graph cut short
    with open(os.path.join(paths["1999999003"], "saved_model.pb"), "r+b") as f:
        f.truncate(100)
    shutil.copytree(model_dir, paths["1999999004"])  # a variables shard missing
    for name in os.listdir(os.path.join(paths["1999999004"], "variables")):
        if name.startswith("variables.data-"):
            os.remove(os.path.join(paths["1999999004"], "variables", name))
    shutil.copytree(model_dir, paths[".staging-42-dead"])
    return paths


def test_broken_folders_are_ignored_and_each_is_reported(model_dir, tmp_path):
    serving = str(tmp_path / "serving")
    version, good = push_lib.push(model_dir, serving, now=1700000000)
    broken = _plant_broken(serving, model_dir)
    assert versions.pushed_versions(serving) == [version] == ["1700000000"]
    found = {b.path: b for b in versions.scan_versions(serving)[1]}
    assert set(found) == set(broken.values())
    assert "empty folder" in found[broken["1999999001"]].why
    assert "without variables" in found[broken["1999999002"]].why
    assert "cannot be read" in found[broken["1999999003"]].why
    assert "variables.data" in found[broken["1999999004"]].why
    assert "staging" in found[broken[".staging-42-dead"]].why
    for item in found.values():
        assert item.path in item.describe() and "can be deleted" in item.describe()
    # The lookups behind predict, the baseline and warm start take the good one.
    warnings = []
    assert resolve_model_dir(output_dir=str(tmp_path), warn=warnings.append) == good
    assert len(warnings) == 5 and all("can be deleted" in w for w in warnings)
    assert versions.model_dirs(serving)[0] == [good]
    assert versions.newest_compatible(serving, None)[0] == "1700000000"


def test_a_broken_savedmodel_named_directly_is_refused_by_name(model_dir, tmp_path):
    serving = str(tmp_path / "serving")
    broken = _plant_broken(serving, model_dir)
    with pytest.raises(
        DataError,
        match=r"1999999002: not a usable SavedModel: saved_model\.pb "
        r"without variables",
    ):
        resolve_model_dir(model=broken["1999999002"])
    with pytest.raises(DataError, match="no SavedModel there"):
        resolve_model_dir(model=serving)


def test_pushes_in_the_same_second_get_their_own_versions(model_dir, tmp_path):
    serving = str(tmp_path / "serving")
    first = push_lib.push(model_dir, serving, now=1700000000)
    second = push_lib.push(model_dir, serving, now=1700000000)
    assert first[0] == "1700000000" and second[0] == "1700000001"
    assert sorted(os.listdir(serving)) == ["1700000000", "1700000001"]  # no staging left
    assert (
        versions.model_digest(first[1])
        == versions.model_digest(second[1])
        == versions.model_digest(model_dir)
    )


def test_a_push_never_writes_into_an_existing_folder(model_dir, tmp_path):
    serving = tmp_path / "serving"
    (serving / "1700000005").mkdir(parents=True)  # empty, newer than now
    (serving / "1700000005" / "keep.txt").write_text("x")
    version, target = push_lib.push(model_dir, str(serving), now=1700000000)
    assert version == "1700000006"
    assert os.listdir(serving / "1700000005") == ["keep.txt"]


def test_saved_model_pb_is_copied_last(model_dir, tmp_path):
    copied = push_lib.copy_model(model_dir, str(tmp_path / "copy"))
    assert copied[-1] == "saved_model.pb" and len(copied) > 3
    assert versions.version_problem(str(tmp_path / "copy")) is None


def test_push_to_a_remote_filesystem_copies_in_place(model_dir):
    """ram:// stands in for gs:// (no atomic rename): the version folder is
    written directly, complete, and no staging folder is made."""
    serving = "ram://push-test/serving"
    version, target = push_lib.push(model_dir, serving, now=1700000000)
    assert target == f"{serving}/{version}"
    assert [n.rstrip("/") for n in tf.io.gfile.listdir(serving)] == [version]
    assert versions.pushed_versions(serving) == [version]


def test_the_pusher_records_the_version_it_wrote(model_dir, tmp_path):
    """TFX's Pusher executor (with the safe push) run twice in one second:
    two versions, each PushedModel naming its own."""
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.pusher import Executor

    serving = str(tmp_path / "serving")
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "trainer")
    tf.io.gfile.makedirs(model.uri)
    push_lib.copy_model(model_dir, os.path.join(model.uri, "Format-Serving"))
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1)
    destination = proto_utils.proto_to_json(pusher_pb2.PushDestination())
    recorded = []
    for i in range(2):
        pushed = standard_artifacts.PushedModel()
        pushed.uri = str(tmp_path / f"pushed{i}")
        Executor().Do(
            {"model": [model], "model_blessing": [blessing]},
            {"pushed_model": [pushed]},
            {"push_destination": destination, "serving_dir": serving},
        )
        recorded.append(
            (
                pushed.get_string_custom_property("pushed_version"),
                pushed.get_string_custom_property("pushed_destination"),
            )
        )
    (v1, d1), (v2, d2) = recorded
    assert int(v2) > int(v1)
    assert d1 == os.path.join(serving, v1) and d2 == os.path.join(serving, v2)
    assert versions.pushed_versions(serving) == [v2, v1]
