"""Bad --set values are rejected before anything runs, with exit status 2."""
import pytest

from pipeline.cli import main


@pytest.mark.parametrize("setting, named", [
    ("bogus=1", "bogus"),
    ("train_steps=abc", "train_steps"),
    ("learning_rate=x", "learning_rate"),
    ("accuracy_threshold=2", "accuracy_threshold"),
])
def test_bad_setting_exits_2_naming_it(setting, named, tmp_path, capsys):
    code = main(["run", "--output-dir", str(tmp_path / "out"), "--set", setting])
    assert code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_data_exits_2(tmp_path, capsys):
    code = main(["run", "--output-dir", str(tmp_path / "out"), "--data", str(tmp_path / "nope")])
    assert code == 2
    assert "nope" in capsys.readouterr().err
