"""A small fixed-seed share of `make fuzz` (tests/fuzz.py): damaged images and
tf.Examples end in a result or a clear error naming the input, never a traceback,
a hang or a damaged file taken for a shorter one."""

import os

import fuzz
import pytest

CASES = 30
SEED = 3


@pytest.fixture(scope="module")
def cases():
    made = fuzz.make_cases(CASES, SEED)
    for i, case in enumerate(made):
        case["id"] = i
    return made


def _check(results, cases_expected):
    counts = fuzz.summarize("share", results)
    assert len(results) == cases_expected
    bad = [(c["what"], outcome, detail) for c, outcome, detail in results if outcome in fuzz.BAD]
    assert not bad, bad
    assert counts[fuzz.CLEAR] > 0


def test_cases_are_the_same_for_the_same_seed(cases):
    again = fuzz.make_cases(CASES, SEED)
    assert [c["data"] for c in again] == [c["data"] for c in cases]
    assert {c["kind"] for c in cases} >= {"image", "example"}


def test_fuzzed_inputs_through_ingestion(cases, tmp_path):
    _check(fuzz.fuzz_ingestion(cases, timeout=20, workdir=str(tmp_path)), CASES)


@pytest.mark.e2e
def test_fuzzed_images_through_tiedflow_predict(cases, pipeline_run, tmp_path):
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    serving = os.path.join(pipeline_run.output_dir, "serving")
    images = sum(1 for c in cases if c["kind"] == "image")
    _check(fuzz.fuzz_predict(cases, serving, timeout=20, workdir=str(tmp_path)), images)
