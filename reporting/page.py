"""One self-contained HTML page from an evaluation: styles and images inline.

TFMA's own views are Jupyter widgets that render blank anywhere else; this
page needs nothing but a browser (no scripts, no network). Sections: verdict,
every threshold's outcome, metrics overall / per class / per slice (baseline
beside the candidate when there is one), where the model is weakest, and the
figures (confusion matrix, ROC, calibration, class balance).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html

from evaluation import eval_config as ec
from names import LABEL_KEY
from reporting import evaluation_data as rd
from reporting import plots as report_plots

STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
 max-width:1100px;color:#1d1d1f;line-height:1.4;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px} h2{font-size:1.2em;border-bottom:1px solid #ddd;
 padding-bottom:4px;margin-top:32px}
.verdict{padding:14px 18px;border-radius:8px;font-size:1.25em;font-weight:600;margin:16px 0}
.verdict.ok{background:#e3f4e6;color:#14532d;border:1px solid #86c794}
.verdict.fail{background:#fde8e8;color:#7f1d1d;border:1px solid #e59a9a}
.verdict small{display:block;font-weight:400;font-size:.75em;margin-top:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f3f4f6} td.l,th.l{text-align:left}
tr.failed td{background:#fde8e8} td.bad{color:#b00020;font-weight:600}
td.good{color:#14532d}
.meta{color:#555;font-size:.9em} .meta td{border:none;text-align:left;padding:1px 8px 1px 0}
figure{margin:16px 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85em}
.grid{display:flex;flex-wrap:wrap;gap:16px} .grid figure{flex:1 1 460px}
"""


@dataclasses.dataclass
class ReportInputs:
    """What the report is made of, beyond the evaluation itself."""

    evaluation_uri: str
    blessed: bool | None = None  # from the ModelBlessing; None: TFMA's validation
    statistics_uri: str | None = None
    model_uri: str | None = None
    baseline_version: str | None = None
    title: str = "tiedflow evaluation report"
    # The data's class names (index = class id), from the Examples artifact;
    # they come from other people's folder names: always escaped.
    class_names: list | None = None
    # Why newer pushed models were not the baseline (LatestPushedModel's note).
    baseline_skipped: str | None = None
    # Where the model comes from, in words: the data setting and its fingerprint
    # (from the Examples artifact) and each component's code fingerprint.
    data: str | None = None
    data_fingerprint: str | None = None
    code_versions: dict | None = None
    run_id: str | None = None  # the run that made the evaluation, when known


def provenance(inputs: ReportInputs) -> list[tuple[str, str]]:
    """The report's lineage rows: data and code versions (the baseline has its
    own row); `tiedflow lineage` follows the whole chain."""
    rows = []
    if inputs.data:
        fingerprint = inputs.data_fingerprint
        same = fingerprint in (None, "", inputs.data)
        rows.append(("data", inputs.data + ("" if same else f" (fingerprint {fingerprint})")))
    if inputs.code_versions:
        rows.append(
            (
                "code versions",
                ", ".join(
                    f"{component} {version}"
                    for component, version in inputs.code_versions.items()
                    if version
                ),
            )
        )
    if rows:
        target = inputs.run_id or "SERVING_VERSION_DIR (or RUN_ID)"
        rows.append(
            (
                "lineage",
                f"tiedflow lineage {target} traces the model back through "
                "evaluation, training, transform and schema to these examples",
            )
        )
    return rows


def _e(value) -> str:
    return html.escape(str(value))


def _num(value, digits=4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(value) -> str:
    return "–" if value is None else f"{value:g}"


def _delta(value, better_higher=True) -> str:
    if value is None:
        return "<td>–</td>"
    worse = value < -1e-12 if better_higher else value > 1e-12
    better = value > 1e-12 if better_higher else value < -1e-12
    cls = ' class="bad"' if worse else (' class="good"' if better else "")
    return f"<td{cls}>{value:+.4f}</td>"


def _img(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode()
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _table(headers, rows, left_columns=1, row_classes=None) -> str:
    head = "".join(
        f'<th class="l">{_e(h)}</th>' if i < left_columns else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            if isinstance(cell, str) and cell.startswith("<td"):
                cells.append(cell)
            elif i < left_columns:
                cells.append(f'<td class="l">{_e(cell)}</td>')
            else:
                cells.append(f"<td>{_e(cell)}</td>")
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _verdict(ev: rd.Evaluation, blessed: bool, outcomes) -> str:
    failed = [o for o in outcomes if o.failed]
    if blessed:
        count = len(outcomes)
        detail = (
            f"{'the' if count == 1 else 'all'} {count} threshold "
            f"check{'' if count == 1 else 's'} passed; the Pusher may push this model."
        )
        return (
            f'<div id="verdict" class="verdict ok">BLESSED: the model passed its evaluation'
            f"<small>{_e(detail)}</small></div>"
        )
    lines = "".join(f"<li>{_e(o.describe())}</li>" for o in failed)
    return (
        f'<div id="verdict" class="verdict fail">NOT BLESSED: {len(failed)} threshold '
        f"check{'s' if len(failed) != 1 else ''} failed; nothing is pushed"
        f"<small><ul>{lines}</ul></small></div>"
    )


def _thresholds(outcomes) -> str:
    if not outcomes:
        return "<p>No thresholds are configured.</p>"
    rows, classes = [], []
    for o in outcomes:
        status = (
            f'<td class="bad">{_e(o.status)}</td>'
            if o.failed
            else f'<td class="good">{_e(o.status)}</td>'
        )
        rows.append([o.slice, o.metric, o.kind, _num(o.value), o.bound, status])
        classes.append("failed" if o.failed else "")
    return _table(
        ["slice", "metric", "kind", "value", "bound", "outcome"],
        rows,
        left_columns=3,
        row_classes=classes,
    )


OVERALL_METRICS = (ec.EXAMPLE_COUNT, ec.ACCURACY, ec.MACRO_F1, ec.LOSS, ec.ECE)
HIGHER_IS_BETTER = {
    ec.ACCURACY: True,
    ec.MACRO_F1: True,
    ec.LOSS: False,
    ec.ECE: False,
    ec.EXAMPLE_COUNT: True,
}


def _metric_value(ev, slice_key, name, baseline=False):
    k = 1 if name == ec.ECE else None
    return ev.value(slice_key, name, baseline=baseline, k=k)


def _overall(ev: rd.Evaluation) -> str:
    headers = ["metric", "candidate"] + (["baseline", "change"] if ev.has_baseline else [])
    rows = []
    for name in OVERALL_METRICS:
        cand = _metric_value(ev, rd.OVERALL, name)
        fmt = _count if name == ec.EXAMPLE_COUNT else _num
        row = [rd.metric_label(name), fmt(cand)]
        if ev.has_baseline:
            base = _metric_value(ev, rd.OVERALL, name, baseline=True)
            change = cand - base if cand is not None and base is not None else None
            row += [fmt(base), _delta(change, HIGHER_IS_BETTER[name])]
        rows.append(row)
    return _table(headers, rows)


def _per_class(ev: rd.Evaluation, counts) -> str:
    headers = ["class", "examples", "precision", "recall", "F1", "AUC"]
    if ev.has_baseline:
        headers += ["baseline F1", "F1 change"]
    rows = []
    for c in rd.class_ids(ev):
        support = counts[c].sum() if counts is not None and c < len(counts) else None
        f1 = ev.value(rd.OVERALL, ec.F1, class_id=c)
        row = [
            ev.class_name(c),
            _count(support),
            _num(ev.value(rd.OVERALL, ec.PRECISION, class_id=c)),
            _num(ev.value(rd.OVERALL, ec.RECALL, class_id=c)),
            _num(f1),
            _num(ev.value(rd.OVERALL, ec.AUC, class_id=c)),
        ]
        if ev.has_baseline:
            base = ev.value(rd.OVERALL, ec.F1, class_id=c, baseline=True)
            row += [_num(base), _delta(f1 - base if f1 is not None and base is not None else None)]
        rows.append(row)
    return _table(headers, rows)


def _per_slice(ev: rd.Evaluation) -> str:
    headers = ["slice", "examples", "accuracy"]
    if ev.has_baseline:
        headers += ["baseline accuracy", "change"]
    headers += ["macro F1", "loss", "ECE"]
    rows = []
    for slice_key in ev.slices:
        acc = ev.value(slice_key, ec.ACCURACY)
        row = [ev.slice_text(slice_key), _count(ev.value(slice_key, ec.EXAMPLE_COUNT)), _num(acc)]
        if ev.has_baseline:
            row += [
                _num(ev.value(slice_key, ec.ACCURACY, baseline=True)),
                _delta(ev.value(slice_key, ec.ACCURACY, diff=True)),
            ]
        # On a slice of one label, macro F1 would average over classes with no
        # examples there: a number that looks bad and means nothing.
        one_label = any(column == LABEL_KEY for column, _ in slice_key)
        macro_f1 = "–" if one_label else _num(ev.value(slice_key, ec.MACRO_F1))
        row += [
            macro_f1,
            _num(ev.value(slice_key, ec.LOSS)),
            _num(ev.value(slice_key, ec.ECE, k=1)),
        ]
        rows.append(row)
    note = (
        f'<p class="meta">Macro F1 is left out (–) on slices of a single '
        f"{_e(LABEL_KEY)}: it would average over classes with no examples there.</p>"
    )
    return _table(headers, rows) + note


def _weakest(ev: rd.Evaluation, counts) -> str:
    parts = []
    weak = rd.weakest_slices(ev)
    if weak and weak[0].accuracy >= 1.0:
        parts.append("<p>Every slice is classified without error.</p>")
    elif weak:
        headers = (
            ["slice", "examples", "accuracy"]
            + (["baseline accuracy"] if ev.has_baseline else [])
            + ["most frequent error"]
        )
        rows = []
        for w in weak:
            row = [w.slice, _count(w.examples), _num(w.accuracy)]
            if ev.has_baseline:
                row.append(_num(w.baseline_accuracy))
            rows.append(row + [w.top_confusion])
        parts.append("<p>The slices with the lowest accuracy:</p>" + _table(headers, rows))
    class_f1 = [(ev.value(rd.OVERALL, ec.F1, class_id=c), c) for c in rd.class_ids(ev)]
    f1s = sorted((v, c) for v, c in class_f1 if v is not None)[:3]
    if f1s:
        parts.append(
            "<p>Weakest classes by F1: "
            + ", ".join(f"<b>{_e(ev.class_name(c))}</b> ({v:.3f})" for v, c in f1s)
            + ".</p>"
        )
    confusions = rd.top_confusions(counts, 5)
    if confusions:
        parts.append(
            "<p>Most frequent confusions (actual read as predicted): "
            + ", ".join(
                f"{_e(ev.class_name(a))} as {_e(ev.class_name(p))} ({n:g}x)"
                for a, p, n in confusions
            )
            + ".</p>"
        )
    elif counts is not None:
        parts.append("<p>No misclassified example in the evaluation data.</p>")
    return "".join(parts) or "<p>No per-slice metrics.</p>"


def _figures(ev: rd.Evaluation, counts, statistics) -> str:
    names = [ev.class_name(c) for c in range(counts.shape[0])] if counts is not None else []
    figures = []
    if counts is not None:
        figures.append(
            _img(
                report_plots.confusion_matrix(
                    counts, names, "Confusion matrix, eval split (candidate)"
                ),
                "confusion matrix heat map",
                "Rows: actual class; columns: predicted class (arg-max). Colour: share of the "
                "actual class; numbers: examples.",
            )
        )
    curves = {}
    for c in rd.class_ids(ev):
        points = rd.roc_points(ev, c)
        if points:
            curves[ev.class_name(c)] = (*points, ev.value(rd.OVERALL, ec.AUC, class_id=c))
    if curves:
        figures.append(
            _img(
                report_plots.roc_curves(curves, "One-vs-rest ROC curves (candidate)"),
                "ROC curves",
                "Each class against the rest, from TFMA's confusion matrices at 200 thresholds.",
            )
        )
    bins = rd.calibration_bins(ev)
    if bins:
        base_bins = rd.calibration_bins(ev, baseline=True) if ev.has_baseline else None
        figures.append(
            _img(
                report_plots.calibration(
                    bins,
                    ev.value(rd.OVERALL, ec.ECE, k=1),
                    "Calibration of the top-class probability",
                    base_bins,
                    ev.value(rd.OVERALL, ec.ECE, k=1, baseline=True),
                ),
                "calibration plot",
                "Bars: accuracy of the examples whose top probability falls in "
                "the bin; ticks: their mean top probability. ECE: the example-weighted mean gap.",
            )
        )
    if statistics:
        panels = []
        for feature in (key for (key,) in ec.BUILTIN_SLICES):
            dist = rd.value_distribution(statistics, feature)
            if dist:
                panels.append((feature, dist.counts, dist.exact))
        if panels:
            figures.append(
                _img(
                    report_plots.distributions(
                        panels, "Class balance and slice sizes per split (TFDV statistics)"
                    ),
                    "class balance",
                    "Share of each split per value. The label is an integer "
                    "feature, whose TFDV histogram is a sketch: its counts are approximate.",
                )
            )
    if not figures:
        return "<p>No plots in this evaluation.</p>"
    return '<div class="grid">' + "".join(figures) + "</div>"


def render(inputs: ReportInputs, ev: rd.Evaluation | None = None) -> str:
    """The whole page as a string."""
    ev = ev or rd.load_evaluation(inputs.evaluation_uri, inputs.class_names)
    if inputs.class_names and not ev.class_names:
        ev.class_names = list(inputs.class_names)
    outcomes = rd.threshold_outcomes(ev)
    blessed = ev.validation_ok if inputs.blessed is None else inputs.blessed
    statistics = rd.load_statistics(inputs.statistics_uri) if inputs.statistics_uri else None
    counts = rd.confusion_matrix(ev)
    if ev.has_baseline:
        baseline = "the newest pushed model" + (
            f" (version {inputs.baseline_version})" if inputs.baseline_version else ""
        )
    else:
        baseline = (
            "none: first run, so only the absolute thresholds decide; change "
            "thresholds are not checked"
        )
        if inputs.baseline_skipped:
            baseline = (
                "none compatible, so only the absolute thresholds decide; skipped "
                + "; ".join(inputs.baseline_skipped.splitlines())
            )
    meta = [
        ("generated", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("candidate model", inputs.model_uri or "–"),
        ("baseline model", baseline),
        ("evaluation", inputs.evaluation_uri),
        ("eval examples", _count(ev.value(rd.OVERALL, ec.EXAMPLE_COUNT))),
        *provenance(inputs),
    ]
    meta_html = "".join(f"<tr><td><b>{_e(k)}</b></td><td>{_e(v)}</td></tr>" for k, v in meta)
    sections = [
        ("thresholds", "Thresholds", _thresholds(outcomes)),
        ("overall", "Overall metrics", _overall(ev)),
        ("per-class", "Per class (one-vs-rest, arg-max prediction)", _per_class(ev, counts)),
        ("slices", "Per slice", _per_slice(ev)),
        ("weakest", "Where the model is weakest", _weakest(ev, counts)),
        ("figures", "Figures", _figures(ev, counts, statistics)),
    ]
    body = "".join(
        f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'
        for sid, title, content in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(inputs.title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(inputs.title)}</h1>{_verdict(ev, blessed, outcomes)}"
        f'<table class="meta">{meta_html}</table>{body}</body></html>'
    )
