"""Warm start through the pipeline: the first run trains from scratch, the
second starts from the pushed model and, with frozen filters, keeps them."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from conftest import run_tiedflow


def tiedflow_run(output_dir, *sets):
    return run_tiedflow("run", *(a for item in sets for a in ("--set", item)),
                        output_dir=output_dir)


def bank(model_dir):
    import keras

    from trainer import model as model_lib
    from trainer.warm_start import keras_model_path

    model = keras.saving.load_model(keras_model_path(model_dir))
    return model_lib.shared_variables(model)[0].numpy(), model.get_layer("logits").get_weights()


@pytest.mark.e2e
def test_warm_start_with_frozen_filters_through_the_pipeline(tmp_path):
    out = str(tmp_path / "out")
    knobs = ("warm_start=true", "freeze_filters=true")
    first = tiedflow_run(out, *knobs)  # no pushed model yet: trains from scratch
    assert first.returncode == 0, first.stderr[-3000:]
    (pushed,) = glob.glob(os.path.join(out, "serving", "*"))
    first_bank, first_head = bank(pushed)

    second = tiedflow_run(out, *knobs)
    assert second.returncode in (0, 3), second.stderr[-3000:]
    trained = sorted(glob.glob(os.path.join(out, "pipeline_root", "Trainer", "model", "*",
                                            "Format-Serving")),
                     key=lambda p: int(p.split(os.sep)[-2]))
    assert len(trained) == 2
    second_bank, second_head = bank(trained[-1])
    # the second run started from the pushed filters and kept them frozen;
    # only the head moved
    np.testing.assert_array_equal(second_bank, first_bank)
    assert not np.array_equal(second_head[0], first_head[0])
