"""Bad --set values are rejected before anything runs, with exit status 2."""

import pytest

from pipeline.cli import main


@pytest.mark.parametrize(
    "setting, named",
    [
        ("bogus=1", "bogus"),
        ("train_steps=abc", "train_steps"),
        ("learning_rate=x", "learning_rate"),
        ("accuracy_threshold=2", "accuracy_threshold"),
        ("seed=-1", "setting 'seed': must be between 0 and 4294967295 (got -1)"),
        ("learning_rate=nan", "setting 'learning_rate': must be a finite number"),
        ("l2=inf", "setting 'l2': must be a finite number"),
        ("width=0", "setting 'width'"),
        ("batch_size=0", "setting 'batch_size'"),
        ("min_class_recall=-0.5", "setting 'min_class_recall'"),
        ("max_pixels=0", "setting 'max_pixels'"),
        ("pixel_range=-inf,inf", "setting 'pixel_range'"),
    ],
)
def test_bad_setting_exits_2_naming_it(setting, named, tmp_path, capsys):
    code = main(["run", "--output-dir", str(tmp_path / "out"), "--set", setting])
    assert code == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_data_exits_2(tmp_path, capsys):
    code = main(["run", "--output-dir", str(tmp_path / "out"), "--data", str(tmp_path / "nope")])
    assert code == 2
    assert "nope" in capsys.readouterr().err


def test_data_anomalies_raised_inside_a_run_exit_2_naming_them(tmp_path, capsys, monkeypatch):
    """ExampleValidator's error, wrapped by the orchestrator, is still bad input."""
    from components.validator import DataAnomaliesError
    from pipeline.local import runner as local_runner

    def run_with_anomalies(config, orchestrator, **kwargs):
        try:
            raise DataAnomaliesError("data anomalies found:\n  split 'eval', feature 'pixels'")
        except DataAnomaliesError as err:
            raise RuntimeError("component ExampleValidator failed") from err

    monkeypatch.setattr(local_runner, "run", run_with_anomalies)
    code = main(["run", "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert "feature 'pixels'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, named",
    [
        ("--direct_num_worker=2", "--direct_num_worker=2"),  # misspelt: Beam would only warn
        ("--direct_running_mode=fast", "invalid choice: 'fast'"),
        ("runner=DirectRunner", "starts with '--'"),
    ],
)
def test_bad_beam_flag_exits_2_naming_it(tmp_path, capsys, flag, named):
    code = main(["run", "--output-dir", str(tmp_path / "out"), f"--beam-arg={flag}"])
    assert code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_good_beam_flags_reach_beam_pipeline_args():
    from pipeline.config import PipelineConfig
    from pipeline.dag import DEFAULT_BEAM_ARGS, create_pipeline

    flags = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
    pipeline = create_pipeline(PipelineConfig(beam_args=flags))
    assert pipeline.beam_pipeline_args == [*DEFAULT_BEAM_ARGS, *flags]


def test_a_second_run_on_an_output_dir_in_use_fails_at_once(tmp_path, capsys):
    import fcntl

    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    from pipeline.local.store_check import check_store

    out = tmp_path / "out"
    out.mkdir()
    config = mlmd.ConnectionConfig()  # the running run's store
    config.sqlite.filename_uri = str(out / "metadata.sqlite")
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    store.put_context_type(mlmd.ContextType(name="pipeline_run"))
    before = (out / "metadata.sqlite").read_bytes()
    with open(out / ".run.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 4242\n")
        held.flush()
        code = main(["run", "--output-dir", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "another run is using it (pid 4242)" in err and "--output-dir" in err
    assert (out / "metadata.sqlite").read_bytes() == before  # the store untouched
    check_store(str(out / "metadata.sqlite"))


def test_an_output_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["run", "--output-dir", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
