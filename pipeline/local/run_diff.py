"""What differs between two runs: settings, data, code, and the evaluation per slice.

Settings and code fingerprints are the execution properties of each run's
components (TFX records them on cached executions too); the data is the
Examples each run's Trainer read. The evaluations are read with TFMA
(reporting.evaluation_data), and each slice's metrics are set side by side;
a change that one of the runs' thresholds would have caught (a bound B
misses, or B's change against A beyond a change threshold) is flagged.
"""

from __future__ import annotations

import dataclasses

from names import LABEL_KEY
from pipeline.local.history import StoreView, read_run
from pipeline.local.lineage import code_version_of, ingestion_summary, settings_of

# Shown on every slice (macro F1 not on a slice of one class); any metric
# with a threshold is shown where it applies.
HEADLINE_METRICS = ("example_count", "sparse_categorical_accuracy", "macro_f1")
_ONE_CLASS_SLICE_SKIPS = ("macro_f1",)
_SKIPPED_SETTINGS = {"serving_state"}  # where the baseline lookup found the serving dir


@dataclasses.dataclass
class SliceRow:
    slice: str
    metric: str
    a: float | None
    b: float | None
    flag: str | None = None  # the threshold the change (or B's value) fails

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    def as_json(self) -> dict:
        return {**dataclasses.asdict(self), "change": self.change}


@dataclasses.dataclass
class RunDiff:
    run_a: str
    run_b: str
    settings: list  # (component, setting, A, B)
    data: list  # (what, A, B)
    code: list  # (component, A, B)
    slices: list  # SliceRow, per slice, evaluated runs only
    note: str | None = None  # why there is no slice comparison

    def as_json(self) -> dict:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "settings": [
                dict(zip(("component", "setting", "a", "b"), s, strict=True)) for s in self.settings
            ],
            "data": [dict(zip(("what", "a", "b"), d, strict=True)) for d in self.data],
            "code": [dict(zip(("component", "a", "b"), c, strict=True)) for c in self.code],
            "slices": [r.as_json() for r in self.slices],
            "note": self.note,
        }


def _data_facts(view: StoreView, components: dict) -> dict:
    """What the run's data was: path, fingerprint, counts per split and class."""
    example_gen = components.get("ImageExampleGen")
    examples = view.output(example_gen, type_name="Examples")
    data, fingerprint = view.data_of(examples, example_gen)
    facts: dict = {"data": data, "fingerprint": fingerprint}
    summary = ingestion_summary(examples.uri if examples is not None else None) or {}
    names = summary.get("class_names") or []
    for split, counts in sorted((summary.get("counts") or {}).items()):
        facts[f"{split} examples"] = sum(counts)
        facts[f"{split} per class"] = {
            (names[i] if i < len(names) else str(i)): count for i, count in enumerate(counts)
        }
    return facts


def _changed(a: dict, b: dict) -> list:
    """(key, A, B) for every key whose value differs, in A's order then B's."""
    return [
        (key, a.get(key), b.get(key))
        for key in [*a, *(k for k in b if k not in a)]
        if a.get(key) != b.get(key)
    ]


def compare(metadata_path: str, run_a: str, run_b: str, pipeline_name: str = "tiedflow") -> RunDiff:
    view = StoreView(metadata_path, pipeline_name)
    ctx_a, ctx_b = view.run(run_a), view.run(run_b)
    comp_a, comp_b = view.components(ctx_a), view.components(ctx_b)
    settings, code = [], []
    for component in [c for c in comp_a if c in comp_b]:  # both ran (or reused) it
        exec_a, exec_b = comp_a[component], comp_b[component]
        for key, a, b in _changed(settings_of(exec_a), settings_of(exec_b)):
            if key not in _SKIPPED_SETTINGS:
                settings.append((component, key, a, b))
        version_a, version_b = code_version_of(exec_a), code_version_of(exec_b)
        if version_a != version_b:
            code.append((component, version_a, version_b))
    facts_a, facts_b = _data_facts(view, comp_a), _data_facts(view, comp_b)
    data = [
        (what, a, b)
        for what, a, b in _changed(facts_a, facts_b)
        if what in ("data", "fingerprint") or (what in facts_a and what in facts_b)
    ]
    record_a, record_b = read_run(view, ctx_a), read_run(view, ctx_b)
    diff = RunDiff(run_a=run_a, run_b=run_b, settings=settings, data=data, code=code, slices=[])
    missing = [r.run_id for r in (record_a, record_b) if not r.evaluation_uri]
    if missing or record_a.evaluation_uri is None or record_b.evaluation_uri is None:
        diff.note = f"no slice comparison: run {' and '.join(missing)} stopped before the Evaluator"
    else:
        diff.slices = slice_rows(
            record_a.evaluation_uri,
            record_b.evaluation_uri,
            record_b.class_names or record_a.class_names,
        )
    return diff


def slice_rows(uri_a: str, uri_b: str, class_names=None) -> list[SliceRow]:
    """Each slice's headline metrics and thresholded metrics, A beside B, flagged
    where a threshold of either run's evaluation config catches B."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_specs
    from tensorflow_model_analysis.slicer import slicer_lib as slicer

    from reporting import evaluation_data as rd

    ev_a, ev_b = rd.load_evaluation(uri_a, class_names), rd.load_evaluation(uri_b, class_names)
    # (name, class id) -> [(slicing spec or None, threshold)], from both configs
    # (TFX drops change thresholds from a first run's stored config).
    thresholds: dict = {}
    for ev in (ev_b, ev_a):
        found = metric_specs.metric_thresholds_from_metrics_specs(
            ev.eval_config.metrics_specs, eval_config=ev.eval_config
        )
        for key, pairs in found.items():
            if key.model_name != ev.candidate or key.is_diff:
                continue
            class_id = key.sub_key.class_id if key.sub_key else None
            known = thresholds.setdefault((key.name, class_id), [])
            for pair in pairs:
                if all(
                    rd.serialized_threshold(pair[1]) != rd.serialized_threshold(t) or pair[0] != s
                    for s, t in known
                ):
                    known.append(pair)

    def applies(spec, slice_key) -> bool:
        return spec is None or slicer.SingleSliceSpec(spec=spec).is_slice_applicable(slice_key)

    rows = []
    slices = list(ev_b.slices) + [s for s in ev_a.slices if s not in ev_b.slices]
    for slice_key in slices:
        one_class = any(column == LABEL_KEY for column, _ in slice_key)
        wanted = [
            (name, None)
            for name in HEADLINE_METRICS
            if not (one_class and name in _ONE_CLASS_SLICE_SKIPS)
        ]
        wanted += [
            metric
            for metric, pairs in sorted(thresholds.items(), key=str)
            if metric not in wanted and any(applies(s, slice_key) for s, _ in pairs)
        ]
        for name, class_id in wanted:
            a = ev_a.value(slice_key, name, class_id=class_id)
            b = ev_b.value(slice_key, name, class_id=class_id)
            if a is None and b is None:
                continue
            row = SliceRow(
                slice=ev_b.slice_text(slice_key),
                metric=rd.metric_label(name, class_id, class_names),
                a=a,
                b=b,
            )
            for spec, threshold in thresholds.get((name, class_id), []):
                if applies(spec, slice_key) and _caught(threshold, a, b, tfma):
                    row.flag = rd.bound_text(threshold)
                    break
            rows.append(row)
    return rows


def _caught(threshold, a, b, tfma) -> bool:
    """Whether B's value, or its change from A, fails `threshold`."""
    if b is None:
        return False
    if isinstance(threshold, tfma.GenericValueThreshold):
        return (threshold.HasField("lower_bound") and b < threshold.lower_bound.value) or (
            threshold.HasField("upper_bound") and b > threshold.upper_bound.value
        )
    if a is None:
        return False
    higher = threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    if threshold.HasField("absolute"):
        change, bound = b - a, threshold.absolute.value
    elif threshold.HasField("relative") and a:
        change, bound = (b - a) / abs(a), threshold.relative.value
    else:
        return False
    return change < bound if higher else change > bound


def _value(value, metric: str = "") -> str:
    if value is None:
        return "?"
    if isinstance(value, float):
        return (
            f"{value:.0f}"
            if metric == "example count"
            else f"{value:.4g}"
            if not metric
            else f"{value:.4f}"
        )
    return str(value) if value != "" else '""'


def lines(diff: RunDiff, *, every_row: bool = False) -> list[str]:
    """The comparison as text; slice rows that did not change are counted, not
    shown, unless `every_row`."""
    out = [f"A: run {diff.run_a}", f"B: run {diff.run_b}", "", "settings:"]
    out += [f"  {c}.{k}: {_value(a)} -> {_value(b)}" for c, k, a, b in diff.settings] or ["  same"]
    out += ["data:"]
    for what, a, b in diff.data:
        if isinstance(a, dict) and isinstance(b, dict):  # counts per class
            changes = [
                f"{name} {_value(a.get(name))} -> {_value(b.get(name))}"
                for name in [*a, *(n for n in b if n not in a)]
                if a.get(name) != b.get(name)
            ]
            out.append(f"  {what}: {', '.join(changes)}")
        else:
            out.append(f"  {what}: {_value(a)} -> {_value(b)}")
    if not diff.data:
        out.append("  same")
    out += ["code:"]
    out += [f"  {c}: {_value(a)} -> {_value(b)}" for c, a, b in diff.code] or ["  same"]
    out += ["evaluation per slice:"]
    if diff.note:
        return out + [f"  {diff.note}"]
    table = [("slice", "metric", "A", "B", "change", "")]
    shown = [
        r for r in diff.slices if every_row or r.flag or r.change is None or abs(r.change) >= 5e-5
    ]
    for row in shown:
        change = (
            ""
            if row.change is None
            else (f"{row.change:+.0f}" if row.metric == "example count" else f"{row.change:+.4f}")
        )
        table.append(
            (
                row.slice,
                row.metric,
                _value(row.a, row.metric),
                _value(row.b, row.metric),
                change,
                f"<- caught by {row.flag}" if row.flag else "",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for r in table:
        cells = [
            r[0].ljust(widths[0]),
            r[1].ljust(widths[1]),
            *(c.rjust(w) for c, w in zip(r[2:5], widths[2:5], strict=True)),
            r[5],
        ]
        out.append(("  " + "  ".join(cells)).rstrip())
    if len(table) == 1:
        out[-1:] = []
    hidden = len(diff.slices) - len(shown)
    if hidden:
        out.append(
            f"  ({hidden} unchanged row{'s' if hidden != 1 else ''} not shown; --all shows them)"
        )
    flagged = sum(1 for r in diff.slices if r.flag)
    out.append(
        f"flagged: {flagged} (a threshold of these runs catches B's value or its change from A)"
    )
    return out
