"""Each component's code fingerprint covers exactly the project modules its executor loads."""

from __future__ import annotations

import shutil

import pytest

from pipeline import fingerprints


def test_each_component_loads_its_own_code_and_no_other():
    closure = {c: set(fingerprints.closure(m)) for c, m in fingerprints.ENTRY_MODULES.items()}
    assert {"trainer.model", "trainer.export", "trainer.task"} <= closure["Trainer"]
    assert "trainer.preprocessing" in closure["Transform"]
    assert "trainer.model" not in closure["Transform"]  # a model edit keeps Transform cached
    assert "evaluation.metrics" in closure["Evaluator"]
    assert "evaluation.metrics" not in closure["Trainer"] | closure["Transform"]
    assert {"reporting.page", "reporting.plots", "reporting.evaluation_data"} <= closure[
        "EvaluationReport"
    ]
    # The Evaluator reads its own evaluation back (accuracy and failed thresholds
    # for run history, components.evaluator), never the page: a page edit keeps it cached.
    assert "reporting.evaluation_data" in closure["Evaluator"]
    for component, modules in closure.items():
        allowed = {
            "EvaluationReport": None,
            "Evaluator": {"reporting", "reporting.evaluation_data"},
        }
        if component in allowed:
            assert (
                allowed[component] is None
                or {m for m in modules if m.startswith("reporting")} == allowed[component]
            ), component
        else:
            assert not any(m.startswith("reporting") for m in modules), component
        assert not any(m.startswith("pipeline") for m in modules), component
        assert "pushed_models.predict" not in modules, component
    assert {"ingestion.sources", "ingestion.split"} <= closure["ImageExampleGen"]


def test_imports_inside_functions_and_from_packages_count(tmp_path, monkeypatch):
    for package in ("components", "trainer", "names"):
        shutil.copytree(fingerprints.ROOT / package, tmp_path / package)
    monkeypatch.setattr(fingerprints, "ROOT", tmp_path)
    before = fingerprints.fingerprint(["components.trainer", "trainer.task"])
    (tmp_path / "trainer" / "warm_start.py").write_text(
        (tmp_path / "trainer" / "warm_start.py").read_text() + "\n# edited\n"
    )
    after = fingerprints.fingerprint(["components.trainer", "trainer.task"])
    assert before != after  # trainer.task: `from trainer import ... warm_start`
    (tmp_path / "components" / "report.py").write_text("# edited: not the trainer's code\n")
    assert fingerprints.fingerprint(["components.trainer", "trainer.task"]) == after


def test_an_unknown_entry_module_is_an_error():
    with pytest.raises(ValueError, match="no source"):
        fingerprints.closure(["trainer.no_such_module"])
