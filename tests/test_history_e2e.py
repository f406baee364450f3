"""Run history, lineage and diff on a store made by a real sequence of runs.

One output dir, six runs (small data, the WEAK training budget): a first
blessed run, the same again (fully cached), a run on changed data (blessed,
the second push), one whose accuracy bound cannot be met (not blessed), one
stopped by Ctrl-C while the Trainer trains, and one that fails on a cut-off
TFRecord file. Then `tiedflow runs` must print exactly what each did,
`lineage` of the second push must name the changed data's fingerprint, and
`diff` of the two blessed runs must show the data change and its per-slice
effect. A copy of the store is also stripped of what newer runs record (an
older version's store). tests/test_history.py covers unusable stores.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import sqlite3

import pytest
from background_run import ORDER, KillChain
from conftest import WEAK, run_tiedflow

pytestmark = pytest.mark.e2e

# Blessed whatever the weak model reaches; a changed data set does not count as
# a regression (the baseline was trained and evaluated on other data).
BLESSED = (
    *WEAK,
    "--set",
    "accuracy_threshold=0.3",
    "--set",
    "regression_tolerance=1",
    "--set",
    "slice_regression_tolerance=1",
)
NOT_BLESSED = (*BLESSED, "--set", "accuracy_threshold=0.999")
N_A, N_B = 300, 400  # examples in the first and the changed data set


def _data_file(folder) -> str:
    (name,) = os.listdir(folder)
    return os.path.join(str(folder), name)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict:
    """The six runs, in order, with what each printed."""
    from ingestion import synthetic

    base = tmp_path_factory.mktemp("history")
    out = str(base / "out")
    synthetic.generate(str(base / "a"), N_A, "tfrecord", names=True, seed=1)
    synthetic.generate(str(base / "b"), N_B, "tfrecord", names=True, seed=2)
    data_a, data_b = _data_file(base / "a"), _data_file(base / "b")
    with open(data_b, "rb") as f:
        whole = f.read()
    bad = str(base / "cut.tfrecord")
    with open(bad, "wb") as f:
        f.write(whole[: len(whole) * 3 // 5])

    runs = {}
    runs["first"] = run_tiedflow("run", "--data", data_a, *BLESSED, output_dir=out)
    assert runs["first"].returncode == 0, runs["first"].stdout + runs["first"].stderr
    runs["cached"] = run_tiedflow("run", "--data", data_a, *BLESSED, output_dir=out)
    assert runs["cached"].returncode == 0, runs["cached"].stdout + runs["cached"].stderr
    runs["changed"] = run_tiedflow("run", "--data", data_b, *BLESSED, output_dir=out)
    assert runs["changed"].returncode == 0, runs["changed"].stdout + runs["changed"].stderr
    runs["weak"] = run_tiedflow("run", "--data", data_b, *NOT_BLESSED, output_dir=out)
    assert runs["weak"].returncode == 3, runs["weak"].stdout + runs["weak"].stderr
    # Another training budget, so that the Trainer runs (and is stopped) again.
    chain = KillChain(out, "--data", data_b, *BLESSED, "--set", "train_steps=41")
    chain.done = list(ORDER[: ORDER.index("Trainer")])  # reused from the runs before
    chain.stop_during("Trainer", signal.SIGINT)
    runs["bad"] = run_tiedflow("run", "--data", bad, *BLESSED, output_dir=out)
    assert runs["bad"].returncode == 2, runs["bad"].stdout + runs["bad"].stderr
    return {"out": out, "runs": runs, "data_a": data_a, "data_b": data_b, "bad": bad}


def _printed(run, pattern: str) -> str:
    found = re.search(pattern, run.stdout, re.M)
    assert found, run.stdout
    return found.group(1)


def _fingerprint(path: str) -> str:
    from components.example_gen import data_fingerprint

    return data_fingerprint(path)


def _cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_runs_prints_one_exact_line_per_run_newest_first(history):
    runs, out = history["runs"], history["out"]
    listed = run_tiedflow("runs", output_dir=out)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    header, rows = lines[0], [_cells(line) for line in lines[1:]]
    assert _cells(header) == [
        "RUN",
        "STARTED",
        "TOOK",
        "DATA",
        "EXAMPLES",
        "CLASSES",
        "RAN/CACHED",
        "ACCURACY",
        "PUSHED",
        "VERDICT",
    ]
    # Columns are aligned under their heading.
    for name in ("DATA", "ACCURACY", "PUSHED", "VERDICT"):
        column = header.index(name)
        assert all(
            line[column - 2 : column] == "  " and line[column] != " " for line in lines[1:]
        ), (name, listed.stdout)
    assert len(rows) == 6, listed.stdout

    a = f"{history['data_a']}@{_fingerprint(history['data_a'])[:8]}"
    b = f"{history['data_b']}@{_fingerprint(history['data_b'])[:8]}"
    pushed = {
        name: os.path.basename(_printed(runs[name], r"^BLESSED and pushed to (.+)$"))
        for name in ("first", "changed")
    }
    assert _printed(runs["cached"], r"^BLESSED and pushed to (.+)$").endswith(pushed["first"])
    accuracy = {
        name: _printed(runs[name], r"overall eval accuracy (\S+)$")
        for name in ("first", "cached", "changed", "weak")
    }
    first_failure = _printed(runs["weak"], r"^  - (.+)$")
    expected = [  # newest first; None: checked by pattern below
        [
            None,
            None,
            None,
            f"{history['bad']}@?",
            "?",
            "?",
            "0/0",
            "?",
            "-",
            "failed: in ImageExampleGen, exit 2",
        ],
        [
            None,
            None,
            None,
            b,
            str(N_B),
            "10",
            "0/5",
            "?",
            "-",
            "interrupted: by SIGINT during Trainer",
        ],
        [
            _printed(runs["weak"], r"^run (\S+):"),
            None,
            None,
            b,
            str(N_B),
            "10",
            "3/7",
            accuracy["weak"],
            "-",
            f"not blessed: {first_failure}",
        ],
        [
            _printed(runs["changed"], r"^run (\S+):"),
            None,
            None,
            b,
            str(N_B),
            "10",
            "10/0",
            accuracy["changed"],
            pushed["changed"],
            "blessed",
        ],
        [
            _printed(runs["cached"], r"^run (\S+):"),
            None,
            None,
            a,
            str(N_A),
            "10",
            "0/10",
            accuracy["cached"],
            f"{pushed['first']} (cached)",
            "blessed",
        ],
        [
            _printed(runs["first"], r"^run (\S+):"),
            None,
            None,
            a,
            str(N_A),
            "10",
            "10/0",
            accuracy["first"],
            pushed["first"],
            "blessed",
        ],
    ]
    for row, want in zip(rows, expected, strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", row[0]), row
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[1]), row
        started = datetime.datetime.strptime(row[1], "%Y-%m-%d %H:%M:%S")
        named = datetime.datetime.fromisoformat(row[0])  # a run id is its start time
        assert abs((started - named).total_seconds()) < 60, row
        assert re.fullmatch(r"\d+(\.\d)? s", row[2]), row
        assert [w if w is not None else r for w, r in zip(want, row, strict=True)] == row, (
            listed.stdout
        )
    ids = [row[0] for row in rows]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6


def test_runs_json_holds_the_same_records(history):
    listed = run_tiedflow("runs", "--json", output_dir=history["out"])
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [r["verdict"] for r in records] == [
        "failed",
        "interrupted",
        "not blessed",
        "blessed",
        "blessed",
        "blessed",
    ]
    failed, stopped, weak = records[:3]
    assert failed["exit_status"] == 2 and "truncated" in failed["error"], failed
    assert stopped["exit_status"] == 130 and stopped["component"] == "Trainer", stopped
    assert weak["exit_status"] == 3 and weak["failed_thresholds"], weak
    assert sorted(records[3]["class_names"]) == sorted(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )


def test_lineage_of_the_second_push_names_the_changed_data(history):
    runs = history["runs"]
    serving_dir = _printed(runs["changed"], r"^BLESSED and pushed to (.+)$")
    traced = run_tiedflow("lineage", serving_dir, output_dir=history["out"])
    assert traced.returncode == 0, traced.stderr
    text = traced.stdout
    fingerprint_b, fingerprint_a = _fingerprint(history["data_b"]), _fingerprint(history["data_a"])
    assert f"     fingerprint: {fingerprint_b}\n" in text, text
    assert fingerprint_a not in text, text
    assert f"     data: {history['data_b']}\n" in text, text
    # The chain in order, back to the data; the baseline was the first push.
    steps = re.findall(r"^(?:<- )?([a-z][a-z ]*): ", text, re.M)
    assert steps == [
        "push",
        "blessing",
        "evaluation",
        "model",
        "transform graph",
        "schema",
        "examples",
    ], text
    first = os.path.basename(_printed(runs["first"], r"^BLESSED and pushed to (.+)$"))
    assert f"     baseline: pushed model {first}\n" in text, text
    changed_id = _printed(runs["changed"], r"^run (\S+):")
    assert text.count(f"in run {changed_id}\n") == 7, text
    as_json = json.loads(
        run_tiedflow("lineage", "--json", serving_dir, output_dir=history["out"]).stdout
    )
    examples = as_json[-1]["facts"]
    assert examples["fingerprint"] == fingerprint_b
    assert sum(examples["counts"].values()) == N_B
    assert sum(sum(per.values()) for per in examples["per_class"].values()) == N_B
    trainer = next(s for s in as_json if s["step"] == "model")
    assert trainer["facts"]["settings"]["train_steps"] == 40
    assert trainer["code_version"] and trainer["component"] == "Trainer"


def test_diff_of_the_two_blessed_runs_shows_the_data_and_each_slice(history):
    runs = history["runs"]
    run_a = _printed(runs["first"], r"^run (\S+):")
    run_b = _printed(runs["changed"], r"^run (\S+):")
    compared = run_tiedflow("diff", run_a, run_b, output_dir=history["out"])
    assert compared.returncode == 0, compared.stderr
    text = compared.stdout
    assert f"  ImageExampleGen.data: {history['data_a']} -> {history['data_b']}\n" in text
    assert (
        f"  fingerprint: {_fingerprint(history['data_a'])} -> {_fingerprint(history['data_b'])}\n"
    ) in text, text
    eval_a = int(_printed(runs["first"], r"^data: \d+ examples \(\d+ train, (\d+) eval\)"))
    eval_b = int(_printed(runs["changed"], r"^data: \d+ examples \(\d+ train, (\d+) eval\)"))
    assert f"  eval examples: {eval_a} -> {eval_b}\n" in text, text
    assert re.search(
        rf"^  Overall +example count +{eval_a} +{eval_b} +\+{eval_b - eval_a}$", text, re.M
    ), text
    accuracy_a = float(_printed(runs["first"], r"overall eval accuracy (\S+)$"))
    accuracy_b = float(_printed(runs["changed"], r"overall eval accuracy (\S+)$"))
    found = re.search(r"^  Overall +accuracy +(\S+) +(\S+) +(\S+)$", text, re.M)
    assert found, text
    assert [float(v) for v in found.groups()] == pytest.approx(
        [accuracy_a, accuracy_b, accuracy_b - accuracy_a], abs=1e-4
    )
    # Slices by class name; the settings and the code did not change.
    assert re.search(r"^  label=seven +", text, re.M), text
    assert "settings:\n  ImageExampleGen.data:" in text and "\ncode:\n  same\n" in text, text
    listed = json.loads(
        run_tiedflow("diff", "--json", run_a, run_b, output_dir=history["out"]).stdout
    )
    assert {r["slice"] for r in listed["slices"]} >= {"Overall", "label=zero", "label=nine"}


def test_diff_flags_what_a_threshold_catches(history):
    """The not-blessed run against the blessed one on the same data: its failed
    accuracy bound is flagged on the overall slice."""
    runs = history["runs"]
    compared = run_tiedflow(
        "diff",
        _printed(runs["changed"], r"^run (\S+):"),
        _printed(runs["weak"], r"^run (\S+):"),
        output_dir=history["out"],
    )
    assert compared.returncode == 0, compared.stderr
    assert re.search(
        r"^  Overall +accuracy +\S+ +\S+ +\S+ +<- caught by >= 0\.999$", compared.stdout, re.M
    ), compared.stdout
    assert compared.stdout.splitlines()[-1].startswith("flagged: 1 "), compared.stdout
    assert "  Evaluator.accuracy_threshold: 0.3 -> 0.999\n" in compared.stdout


def test_report_of_a_recorded_evaluation_names_classes_and_lineage(history, tmp_path):
    runs = history["runs"]
    evaluation = _printed(runs["changed"], r"^evaluation: (.+)$")
    page = tmp_path / "page.html"
    done = run_tiedflow("report", "--evaluation", evaluation, "--out", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert "label=seven" in html and "label=7<" not in html
    assert f"<td>{history['data_b']} (fingerprint {_fingerprint(history['data_b'])})</td>" in html
    # The page the run itself made names the same data and its code versions.
    made = open(runs["changed"].report_path).read()
    assert f"(fingerprint {_fingerprint(history['data_b'])})" in made
    assert re.search(r"<b>code versions</b></td><td>ImageExampleGen [0-9a-f]{16}, ", made)


def test_an_older_store_shows_unknown(history, tmp_path):
    """What older versions of the project did not record shows as "?" (or is
    left out of the verdict); what they did record still shows."""
    old = tmp_path / "old"
    old.mkdir()
    shutil.copyfile(os.path.join(history["out"], "metadata.sqlite"), old / "metadata.sqlite")
    with sqlite3.connect(old / "metadata.sqlite") as db:
        db.execute(
            "DELETE FROM ArtifactProperty WHERE name IN ('overall_accuracy', "
            "'failed_thresholds', 'data', 'data_fingerprint')"
        )
        db.execute("DELETE FROM ContextProperty WHERE name IN ('exit_status', 'error')")
    listed = run_tiedflow("runs", output_dir=str(old))
    assert listed.returncode == 0, listed.stderr
    rows = [_cells(line) for line in listed.stdout.splitlines()[1:]]
    assert [r[7] for r in rows] == ["?"] * 6, listed.stdout
    assert [r[-1] for r in rows] == [
        "failed: in ImageExampleGen",
        "interrupted: during Trainer",
        "not blessed",
        "blessed",
        "blessed",
        "blessed",
    ]
    # The fingerprint is still found on the execution that read the data.
    assert rows[-1][3] == f"{history['data_a']}@{_fingerprint(history['data_a'])[:8]}"
