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
        [
            "train_steps=12",
            "learning_rate=0.01",
            "l2=0",
            "lr_decay=false",
            "tie_mode=channel",
            "slice_features=ink_density*label",
        ]
    )
    assert cfg.train_steps == 12 and isinstance(cfg.train_steps, int)
    assert cfg.learning_rate == 0.01
    assert cfg.l2 == 0.0
    assert cfg.lr_decay is False
    assert cfg.tie_mode == "channel"
    assert cfg.slice_features == ("ink_density*label",)


@pytest.mark.parametrize(
    "item, named",
    [
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
    ],
)
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


@pytest.mark.parametrize(
    "value, source",
    [("", None), ("false", None), ("no", None), ("true", "pushed"), ("1", "pushed")],
)
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


@pytest.mark.parametrize(
    "setting, named",
    [
        ("pixel_encoding=png", "pixel_encoding"),
        ("pixel_range=1,0", "pixel_range"),
        ("pixel_range=zero,one", "pixel_range"),
        ("image_shape=28,28,2", "image_shape"),
        ("image_shape=0,28", "image_shape"),
    ],
)
def test_bad_ingestion_setting_is_rejected_by_name(setting, named):
    with pytest.raises(ConfigError, match=f"setting '{named}'"):
        PipelineConfig().with_overrides([setting])
    assert PipelineConfig().with_overrides(["pixel_range=-0.5,0.5", "image_shape=28,28,3"])


# Every knob's type and range, before anything runs: (setting, what the message says).
BAD_VALUES = [
    ("seed=-1", "between 0 and 4294967295"),
    ("seed=4294967296", "between 0 and 4294967295"),
    ("learning_rate=nan", "finite"),
    ("learning_rate=inf", "finite"),
    ("learning_rate=0", "(0, 10]"),
    ("l2=inf", "finite"),
    ("l2=nan", "finite"),
    ("beta_1=nan", "finite"),
    ("beta_2=1", "[0, 1)"),
    ("momentum=-0.5", "[0, 1)"),
    ("accuracy_threshold=-0.1", "[0, 1]"),
    ("accuracy_threshold=nan", "finite"),
    ("min_class_recall=1.01", "[0, 1]"),
    ("min_slice_accuracy=-inf", "finite"),
    ("regression_tolerance=2", "[0, 1]"),
    ("slice_regression_tolerance=-0.01", "[0, 1]"),
    ("max_calibration_error=0", "(0, 1]"),
    ("abstain_below=1.5", "[0, 1]"),
    ("width=0", "between 1 and 512"),
    ("tied_layers=0", "between 1 and 16"),
    ("batch_size=0", "between 1 and 65536"),
    ("batch_size=10000000", "between 1 and 65536"),
    ("train_steps=-5", "0 (chosen"),
    ("early_stopping_patience=-1", ">= 0"),
    ("eval_percent=0", "between 1 and 90"),
    ("eval_percent=95", "between 1 and 90"),
    ("image_size=2", "between 4 and 256"),
    ("channels=2", "1 or 3"),
    ("max_pixels=0", "between 1 and"),
    ("max_pixels=-1", "between 1 and"),
    ("pixel_range=-inf,inf", "finite"),
    ("pixel_range=nan,1", "finite"),
    ("seed=1.5", "not a valid int"),
    ("augment=sometimes", "not a valid bool"),
    ("pipeline_name=a b", "letters, digits and dashes"),
    ("image_feature=", "must not be empty"),
]


@pytest.mark.parametrize("item, says", BAD_VALUES, ids=[i for i, _ in BAD_VALUES])
def test_every_knob_is_range_checked_by_name(item, says):
    key = item.split("=", 1)[0]
    with pytest.raises(ConfigError) as err:
        PipelineConfig().with_overrides([item])
    assert f"setting '{key}'" in str(err.value) and says in str(err.value), str(err.value)


def test_edges_of_the_ranges_are_allowed():
    PipelineConfig().with_overrides(
        [
            "seed=0",
            "seed=4294967295",
            "accuracy_threshold=0",
            "accuracy_threshold=1",
            "l2=0",
            "max_pixels=1",
            "batch_size=65536",
            "max_calibration_error=1",
        ]
    )


def test_max_pixels_travels_from_the_config_to_the_example_gen():
    """config -> ImageExampleGen's execution property -> the IngestSettings it reads."""
    from components.example_gen import settings_from
    from ingestion.settings import IngestSettings
    from pipeline.dag import create_pipeline

    config = PipelineConfig().with_overrides(["max_pixels=1234"])
    assert IngestSettings.from_config(config).max_pixels == 1234
    (example_gen,) = [c for c in create_pipeline(config).components if c.id == "ImageExampleGen"]
    assert example_gen.exec_properties["max_pixels"] == 1234
    assert settings_from(example_gen.exec_properties).max_pixels == 1234
