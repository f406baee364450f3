"""Config validation: every bad value is rejected with a message naming the knob."""
import pytest

from pipeline.config import ConfigError, PipelineConfig, parse_value, settable_keys


def test_defaults_are_valid_and_paths_derive_from_output_dir():
    cfg = PipelineConfig(output_dir="/x/out")
    assert cfg.pipeline_root == "/x/out/pipeline_root"
    assert cfg.metadata_path == "/x/out/metadata.sqlite"
    assert cfg.serving_dir == "/x/out/serving"
    assert cfg.reports_dir == "/x/out/reports"


def test_required_keys_exist():
    for key in ("train_steps", "learning_rate", "l2", "accuracy_threshold"):
        assert key in settable_keys()


def test_overrides_convert_by_type():
    cfg = PipelineConfig().with_overrides(
        ["train_steps=12", "learning_rate=0.01", "l2=0", "lr_decay=false", "tie_mode=channel",
         "slice_features=ink_density*label"])
    assert cfg.train_steps == 12 and isinstance(cfg.train_steps, int)
    assert cfg.learning_rate == 0.01
    assert cfg.l2 == 0.0
    assert cfg.lr_decay is False
    assert cfg.tie_mode == "channel"
    assert cfg.slice_features == ("ink_density*label",)


@pytest.mark.parametrize("item, named", [
    ("no_such_knob=1", "no_such_knob"),
    ("train_steps=abc", "train_steps"),
    ("learning_rate=fast", "learning_rate"),
    ("lr_decay=maybe", "lr_decay"),
    ("train_steps=-1", "train_steps"),
    ("learning_rate=-1", "learning_rate"),
    ("accuracy_threshold=1.5", "accuracy_threshold"),
    ("tie_mode=diagonal", "tie_mode"),
    ("optimizer=rmsprop", "optimizer"),
    ("l2=-0.1", "l2"),
    ("output_dir=/tmp", "output_dir"),
])
def test_bad_settings_name_the_knob(item, named):
    with pytest.raises(ConfigError, match=named):
        PipelineConfig().with_overrides([item])


def test_missing_equals_sign_is_an_error():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        PipelineConfig().with_overrides(["train_steps"])


def test_type_checked_on_construction():
    with pytest.raises(ConfigError, match="train_steps"):
        PipelineConfig(train_steps="10")
    with pytest.raises(ConfigError, match="warm_start"):
        PipelineConfig(warm_start=1)


def test_unknown_key_lists_known_ones():
    with pytest.raises(ConfigError) as err:
        parse_value("steps", "3")
    assert "train_steps" in str(err.value)


def test_train_steps_zero_is_the_automatic_budget_and_the_default():
    assert PipelineConfig().train_steps == 0
    assert PipelineConfig().with_overrides(["train_steps=300"]).train_steps == 300


@pytest.mark.parametrize("value, source", [
    ("", None), ("false", None), ("no", None), ("true", "pushed"), ("1", "pushed")])
def test_warm_start_takes_true_false_or_a_path(value, source):
    from trainer.hparams import HParams, warm_start_source

    config = PipelineConfig().with_overrides([f"warm_start={value}"])
    assert warm_start_source(config.warm_start) == source
    assert HParams.from_config(config).warm_start is (source is not None)


def test_warm_start_path_must_exist_locally(tmp_path):
    from trainer.hparams import warm_start_source

    config = PipelineConfig().with_overrides([f"warm_start={tmp_path}"])
    assert warm_start_source(config.warm_start) == str(tmp_path)
    assert PipelineConfig(warm_start="gs://bucket/serving").warm_start  # checked when read
    with pytest.raises(ConfigError, match="warm_start"):
        PipelineConfig().with_overrides([f"warm_start={tmp_path / 'missing'}"])


@pytest.mark.parametrize("setting, named", [
    ("pixel_encoding=png", "pixel_encoding"),
    ("pixel_range=1,0", "pixel_range"),
    ("pixel_range=zero,one", "pixel_range"),
    ("image_shape=28,28,2", "image_shape"),
    ("image_shape=0,28", "image_shape"),
])
def test_bad_ingestion_setting_is_rejected_by_name(setting, named):
    with pytest.raises(ConfigError, match=f"setting '{named}'"):
        PipelineConfig().with_overrides([setting])
    assert PipelineConfig().with_overrides(["pixel_range=-0.5,0.5", "image_shape=28,28,3"])
