"""The lineage of a pushed model (or of a run's model), back to the data.

push -> blessing -> evaluation (and its baseline) -> model (trainer code,
knobs, warm-start source) -> transform graph -> schema -> examples (data,
fingerprint, counts per split and class), followed through ML Metadata's
events: each artifact's producer is the execution that first wrote it, so a
run that reused a cached model leads back to the run that trained it.
Reads the store and the Examples' small ingestion summary; no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os

from names import (
    BASELINE_SKIPPED_PROPERTY,
    EVAL_ACCURACY_PROPERTY,
    FAILED_THRESHOLDS_PROPERTY,
    HAS_MODEL_PROPERTY,
    IMAGE_SHAPE_PROPERTY,
    INGESTION_SUMMARY_FILE,
    PUSHED_VERSION_PROPERTY,
    SCHEMA_FILE_PROPERTY,
    SPLIT_EXAMPLES_PROPERTY,
)
from pipeline.local.history import StoreView, exec_property
from pipeline.local.outcome import class_names_of, prop

# Execution properties that are not settings: shown apart (code) or not at all.
_NOT_SETTINGS = {
    "code_version",
    "data_fingerprint",
    "run_fn",
    "preprocessing_fn",
    "eval_config",
    "push_destination",
    "exclude_splits",
    "example_splits",
    "fairness_indicator_thresholds",
    "train_args",
    "eval_args",
    "title",
    "force_tf_compat_v1",
    "disable_statistics",
    "infer_feature_shape",
}


@dataclasses.dataclass
class Step:
    """One artifact of the chain and the execution that made it."""

    step: str  # push, blessing, evaluation, baseline, model, warm start, ...
    uri: str | None
    run_id: str | None  # the run whose execution made it
    component: str | None
    code_version: str | None = None
    facts: dict = dataclasses.field(default_factory=dict)  # what the step says, in order

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


def code_version_of(execution) -> str | None:
    """The component's code fingerprint (Transform keeps it in custom_config)."""
    if execution is None:
        return None
    version = exec_property(execution, "code_version")
    if version:
        return version
    try:
        return json.loads(exec_property(execution, "custom_config") or "null").get("code_version")
    except (ValueError, AttributeError):
        return None


def settings_of(execution) -> dict:
    """The settings an execution ran with: its properties (custom_config unpacked),
    without code fingerprints and protos. Empty for None."""
    found: dict = {}
    if execution is None:
        return found
    for props in (execution.properties, execution.custom_properties):
        for name in props:
            if name in _NOT_SETTINGS or name.startswith("__"):
                continue
            value = exec_property(execution, name)
            if name == "custom_config":
                try:
                    unpacked = json.loads(value or "null") or {}
                except ValueError:
                    unpacked = {}
                found.update({k: v for k, v in unpacked.items() if k != "code_version"})
            else:
                found[name] = value
    return dict(sorted(found.items()))


def ingestion_summary(examples_uri: str | None) -> dict | None:
    """The ingestion summary beside the splits (counts per split and class), if
    it can be read here (a local file)."""
    if not examples_uri or "://" in examples_uri:
        return None
    try:
        with open(os.path.join(examples_uri, INGESTION_SUMMARY_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Tracer:
    """Follows artifacts to the executions that made them."""

    def __init__(self, view: StoreView):
        self.view = view
        self._run_of: dict = {}

    def run_of(self, execution) -> str | None:
        if execution is None:
            return None
        if execution.id not in self._run_of:
            run_type = (
                self.view.store.get_context_types_by_id([c.type_id for c in self.view.runs[:1]])
                if self.view.runs
                else []
            )
            run_type_ids = {t.id for t in run_type}
            names = [
                c.name
                for c in self.view.store.get_contexts_by_execution(execution.id)
                if c.type_id in run_type_ids
            ]
            self._run_of[execution.id] = names[0] if names else None
        return self._run_of[execution.id]

    def step(self, name: str, artifact, **facts) -> Step:
        made_by = self.view.producer_of(artifact)
        return Step(
            step=name,
            uri=artifact.uri if artifact is not None else None,
            run_id=self.run_of(made_by),
            component=self.view.node_of.get(made_by.id) if made_by else None,
            code_version=code_version_of(made_by),
            facts={k: v for k, v in facts.items()},
        )


def _find_start(view: StoreView, target: str):
    """(PushedModel or None, Model or None) that `target` names: a pushed version
    folder (serving/<version>), a version, or a run id."""
    pushed = [
        a
        for a in view.artifacts.values()
        if view.artifact_types.get(a.type_id) == "PushedModel" and prop(a, "pushed")
    ]
    wanted_dir = os.path.abspath(target).rstrip("/")
    wanted_version = os.path.basename(target.rstrip("/"))
    for artifact in sorted(pushed, key=lambda a: a.id):
        destination = (prop(artifact, "pushed_destination") or "").rstrip("/")
        if destination == wanted_dir or (
            os.sep not in target and prop(artifact, "pushed_version") == wanted_version
        ):
            return artifact, None
    if any(ctx.name == target for ctx in view.runs):
        components = view.components(view.run(target))
        push = view.output(components.get("Pusher"), type_name="PushedModel")
        if push is not None and prop(push, "pushed"):
            return push, None
        model = view.output(components.get("Trainer"), type_name="Model")
        if model is not None:
            return None, model
        raise LookupError(
            f"run {target!r} stopped before the Trainer made a model: "
            "there is no lineage to show (`tiedflow runs` says where it stopped)"
        )
    if os.sep in target or target.isdigit():
        raise LookupError(
            f"{target}: no model pushed there is recorded in "
            f"{view.metadata_path} (it lists the pushes of its own output dir)"
        )
    view.run(target)  # raises naming the runs there are
    raise AssertionError("unreachable")


def trace(view: StoreView, target: str) -> list[Step]:
    """The chain from the pushed model (or run's model) `target` back to the data."""
    tracer = Tracer(view)
    push, model = _find_start(view, target)
    steps = []
    blessing = None
    if push is not None:
        steps.append(
            tracer.step(
                "push",
                push,
                version=prop(push, "pushed_version"),
                destination=prop(push, "pushed_destination"),
            )
        )
        pusher = view.producer_of(push)
        model = view.input(pusher, "model")
        blessing = view.input(pusher, "model_blessing")
    evaluator = view.producer_of(blessing) if blessing is not None else None
    if evaluator is None and model is not None:  # a run's model: find its evaluation
        evaluator = next(
            (
                e
                for e in view.executions.values()
                if view.node_of.get(e.id) == "Evaluator"
                and (view.input(e, "model") or model).id == model.id
                and view.output(e, type_name="ModelBlessing") is not None
            ),
            None,
        )
        blessing = view.output(evaluator, type_name="ModelBlessing")
    if blessing is not None:
        failed = prop(blessing, FAILED_THRESHOLDS_PROPERTY)
        steps.append(
            tracer.step(
                "blessing",
                blessing,
                blessed=bool(prop(blessing, "blessed")),
                failed_thresholds=json.loads(failed) if failed else None,
            )
        )
    if evaluator is not None:
        evaluation = view.output(evaluator, type_name="ModelEvaluation")
        baseline = view.input(evaluator, "baseline_model")
        steps.append(
            tracer.step(
                "evaluation",
                evaluation,
                overall_accuracy=prop(evaluation, EVAL_ACCURACY_PROPERTY) if evaluation else None,
                accuracy_threshold=exec_property(evaluator, "accuracy_threshold"),
                baseline=_baseline_text(baseline),
            )
        )
    trainer = view.producer_of(model)
    if model is not None:
        warm = view.input(trainer, "base_model")
        steps.append(
            tracer.step(
                "model",
                model,
                settings=settings_of(trainer),
                warm_start=_baseline_text(warm) if warm is not None else "none",
            )
        )
    transform_graph = view.input(trainer, "transform_graph")
    if transform_graph is not None:
        transform = view.producer_of(transform_graph)
        steps.append(
            tracer.step(
                "transform graph",
                transform_graph,
                preprocessing_fn=exec_property(transform, "preprocessing_fn"),
            )
        )
    schema = view.input(trainer, "schema")
    if schema is not None:
        steps.append(
            tracer.step("schema", schema, source=prop(schema, SCHEMA_FILE_PROPERTY) or "inferred")
        )
    examples = view.input(trainer, "examples")
    if examples is not None:
        data, fingerprint = view.data_of(examples)
        summary = ingestion_summary(examples.uri) or {}
        names = class_names_of(examples) or summary.get("class_names")
        counts = {
            split: prop(examples, SPLIT_EXAMPLES_PROPERTY.format(split=split))
            for split in ("train", "eval")
        }
        per_class = {
            split: (
                dict(zip(names, values, strict=True))
                if names and len(names) == len(values)
                else values
            )
            for split, values in (summary.get("counts") or {}).items()
        }
        steps.append(
            tracer.step(
                "examples",
                examples,
                data=data,
                fingerprint=fingerprint,
                counts=counts,
                class_names=names,
                per_class=per_class or None,
                image_shape=prop(examples, IMAGE_SHAPE_PROPERTY),
                settings=settings_of(view.producer_of(examples)),
            )
        )
    return steps


def _baseline_text(model) -> str:
    """A LatestPushedModel output in words: 'pushed model V' or 'none (why)'."""
    if model is None:
        return "none"
    if prop(model, HAS_MODEL_PROPERTY) == 0:
        skipped = prop(model, BASELINE_SKIPPED_PROPERTY)
        return "none" + (
            f" (skipped {'; '.join(skipped.splitlines())})"
            if skipped
            else " (nothing pushed before)"
        )
    version = prop(model, PUSHED_VERSION_PROPERTY)
    return f"pushed model {version}" if version else (model.uri or "unknown")


def read_lineage(metadata_path: str, target: str, pipeline_name: str = "tiedflow") -> list[Step]:
    return trace(StoreView(metadata_path, pipeline_name), target)


def _value(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) or "-"
    return str(value)


def lines(steps: list[Step]) -> list[str]:
    """The chain as text: one paragraph per step, newest first."""
    out = []
    for i, step in enumerate(steps):
        made = " ".join(
            filter(
                None,
                [
                    f"by {step.component}" if step.component else None,
                    f"(code {step.code_version})" if step.code_version else None,
                    f"in run {step.run_id}" if step.run_id else None,
                ],
            )
        )
        out.append(f"{'' if i == 0 else '<- '}{step.step}: {step.uri or '?'}")
        if made:
            out.append(f"     made {made}")
        for key, value in step.facts.items():
            if key == "per_class" and isinstance(value, dict):
                for split, per in value.items():
                    out.append(f"     {split} per class: {_value(per)}")
                continue
            if key == "class_names" and step.facts.get("per_class"):
                continue
            out.append(f"     {key.replace('_', ' ')}: {_value(value)}")
    return out


def evaluation_facts(
    metadata_path: str, evaluation_uri: str, pipeline_name: str = "tiedflow"
) -> dict | None:
    """What the report shows beside an evaluation recorded in this store: the
    data's class names, data setting and fingerprint, statistics, and the code
    fingerprints of the run that made it. None when the store does not know it."""
    view = StoreView(metadata_path, pipeline_name)
    wanted = os.path.abspath(evaluation_uri).rstrip("/")
    evaluation = next(
        (
            a
            for a in view.artifacts.values()
            if view.artifact_types.get(a.type_id) == "ModelEvaluation"
            and os.path.abspath(a.uri).rstrip("/") == wanted
        ),
        None,
    )
    evaluator = view.producer_of(evaluation)
    if evaluator is None:
        return None
    examples = view.input(evaluator, "examples")
    data, fingerprint = view.data_of(examples)
    run_id = Tracer(view).run_of(evaluator)
    components = view.components(view.run(run_id)) if run_id else {}
    statistics = view.output(components.get("StatisticsGen"), type_name="ExampleStatistics")
    baseline, model = view.input(evaluator, "baseline_model"), view.input(evaluator, "model")
    return {
        "class_names": class_names_of(examples),
        "data": data,
        "model_uri": model.uri if model is not None else None,
        "baseline_version": (
            prop(baseline, PUSHED_VERSION_PROPERTY)
            if baseline is not None and prop(baseline, HAS_MODEL_PROPERTY)
            else None
        ),
        "data_fingerprint": fingerprint,
        "run_id": run_id,
        "statistics_uri": statistics.uri if statistics is not None else None,
        "code_versions": {
            c: v for c, v in ((c, code_version_of(e)) for c, e in components.items()) if v
        },
    }
