"""The Trainer's input on a finished run's data: how to feed it, and what the Trainer costs.

Takes the newest Examples, Schema and TransformGraph of a `tiedflow run` output
dir (from its ML Metadata store) and measures, each in a child process of its
own (wall seconds, peak RSS of the process tree):

- `transform`: the project's Transform executor, the analysis alone
  (`materialize=False`, as the pipeline runs it) and with transformed examples
  materialized for both splits;
- `input`: the training split read for --epochs epochs through trainer.data,
  per epoch: `reread` (the raw files each epoch through Transform's graph, as
  the Trainer does), `file_cache` (the same, kept in a tf.data cache file after
  the first epoch), `materialized` (Transform's transformed examples, parsed);
- `trainer`: the project's Trainer executor (components.trainer) on those
  artifacts with --train-steps, the whole run_fn: input, fit, evaluation, export.

    python benchmarks/bench_trainer_input.py --output-dir OUT --train-steps 2400 \\
        --out bench_out/trainer_input.json

With `--only trainer` and PYTHONPATH at another checkout it measures that
checkout's Trainer on that checkout's run (a before/after comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from measured import run_measured

HERE = os.path.abspath(__file__)


def _store(output_dir: str):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = os.path.join(output_dir, "metadata.sqlite")
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(cfg)


def newest(output_dir: str, type_name: str):
    """The newest LIVE artifact of a type, as a TFX Artifact."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.types import artifact_utils

    store = _store(output_dir)
    [artifact_type] = store.get_artifact_types_by_id([store.get_artifact_type(type_name).id])
    live = [
        a
        for a in store.get_artifacts_by_type(type_name)
        if a.state == metadata_store_pb2.Artifact.LIVE
    ]
    if not live:
        raise SystemExit(f"{output_dir}: no {type_name} artifact")
    latest = max(live, key=lambda a: a.create_time_since_epoch)
    return artifact_utils.deserialize_artifact(artifact_type, latest)


def exec_properties(component_id: str, overrides: list[str]) -> dict:
    """The component's execution properties as the pipeline sets them (protos as JSON)."""
    from tfx.utils import proto_utils

    from pipeline.config import PipelineConfig
    from pipeline.dag import create_pipeline

    config = PipelineConfig().with_overrides(overrides)
    (component,) = [c for c in create_pipeline(config).components if c.id == component_id]
    return {
        k: proto_utils.proto_to_json(v) if hasattr(v, "DESCRIPTOR") else v
        for k, v in component.exec_properties.items()
        if v is not None
    }


def beam_context(tmp: str):
    from tfx.dsl.components.base import base_beam_executor

    from pipeline.dag import DEFAULT_BEAM_ARGS

    return base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(DEFAULT_BEAM_ARGS), tmp_dir=tmp, unique_id="bench"
    )


def child_transform(args) -> dict:
    """Runs Transform's executor; `--materialize` also writes both splits transformed."""
    from tfx.proto import transform_pb2
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from components.transform import Executor

    props = exec_properties("Transform", [])
    outputs = {specs.TRANSFORM_GRAPH_KEY: [standard_artifacts.TransformGraph()]}
    outputs[specs.TRANSFORM_GRAPH_KEY][0].uri = os.path.join(args.work, "graph")
    if args.materialize:
        props[specs.SPLITS_CONFIG_KEY] = proto_utils.proto_to_json(
            transform_pb2.SplitsConfig(analyze=["train"], transform=["train", "eval"])
        )
        transformed = standard_artifacts.Examples()
        transformed.uri = os.path.join(args.work, "transformed")
        outputs[specs.TRANSFORMED_EXAMPLES_KEY] = [transformed]
    inputs = {
        specs.EXAMPLES_KEY: [newest(args.output_dir, "Examples")],
        specs.SCHEMA_KEY: [newest(args.output_dir, "Schema")],
    }
    start = time.perf_counter()
    Executor(beam_context(os.path.join(args.work, "tmp"))).Do(inputs, outputs, props)
    return {"transform_s": round(time.perf_counter() - start, 2)}


def child_input(args) -> dict:
    """Iterates the training split for --epochs epochs; seconds per epoch."""
    import tensorflow as tf
    import tensorflow_transform as tft
    from tfx.types import artifact_utils

    from names import IMAGE_KEY, LABEL_KEY
    from trainer import data

    output = tft.TFTransformOutput(args.graph)
    if args.mode == "materialized":
        spec = output.transformed_feature_spec()
        files = data.expand(os.path.join(args.transformed, "Split-train", "*"))

        def parse(serialized):
            parsed = tf.io.parse_example(serialized, spec)
            return {IMAGE_KEY: parsed[IMAGE_KEY]}, tf.reshape(parsed[LABEL_KEY], [-1])

        ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(data.READ_BATCH)
        ds = data.batched(
            ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch(),
            args.batch_size,
            True,
            0,
            False,
        )
    else:
        examples = newest(args.output_dir, "Examples")
        pattern = os.path.join(artifact_utils.get_split_uri([examples], "train"), "*")
        cache = os.path.join(args.work, "train.cache") if args.mode == "file_cache" else None
        ds = data.make_dataset(pattern, output, args.batch_size, shuffle=True, cache_file=cache)
    epochs, count = [], 0
    for _ in range(args.epochs):
        start, count = time.perf_counter(), 0
        for features, _labels in ds:
            count += int(features[IMAGE_KEY].shape[0])
        epochs.append(round(time.perf_counter() - start, 2))
    return {"epoch_s": epochs, "examples": count}


def child_trainer(args) -> dict:
    """Runs the Trainer's executor (run_fn and all) on the run's artifacts."""
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs

    from components.trainer import Executor

    props = exec_properties("Trainer", [f"train_steps={args.train_steps}"])
    graph = newest(args.output_dir, "TransformGraph")
    if args.graph:  # the graph this benchmark's Transform made (the run's may be older code's)
        graph = standard_artifacts.TransformGraph()
        graph.uri = args.graph
    inputs = {
        specs.EXAMPLES_KEY: [newest(args.output_dir, "Examples")],
        specs.SCHEMA_KEY: [newest(args.output_dir, "Schema")],
        specs.TRANSFORM_GRAPH_KEY: [graph],
    }
    outputs = {
        specs.MODEL_KEY: [standard_artifacts.Model()],
        specs.MODEL_RUN_KEY: [standard_artifacts.ModelRun()],
    }
    outputs[specs.MODEL_KEY][0].uri = os.path.join(args.work, "model")
    outputs[specs.MODEL_RUN_KEY][0].uri = os.path.join(args.work, "model_run")
    start = time.perf_counter()
    Executor(beam_context(os.path.join(args.work, "tmp"))).Do(inputs, outputs, props)
    return {"trainer_s": round(time.perf_counter() - start, 2)}


CHILDREN = {"transform": child_transform, "input": child_input, "trainer": child_trainer}


def in_child(what: str, argv: list[str], work: str, log: str) -> dict:
    """Runs one measurement in a fresh process: its result, wall and peak RSS."""
    result_path = tempfile.mktemp(suffix=".json", prefix=what, dir=work)
    measured = run_measured(
        [sys.executable, HERE, "--child", what, "--result", result_path, "--work", work, *argv],
        log,
        env={**os.environ},
    )
    if measured["exit_code"]:
        raise SystemExit(f"{what} {argv} failed (exit {measured['exit_code']}); log: {log}")
    with open(result_path) as f:
        return {
            **json.load(f),
            "wall_s": measured["wall_s"],
            "peak_tree_rss_mb": measured["peak_tree_rss_mb"],
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True, help="a `tiedflow run` output dir")
    parser.add_argument("--only", choices=("transform", "input", "trainer"), action="append")
    parser.add_argument("--modes", default="reread,file_cache,materialized")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--out", default="bench_out/trainer_input.json")
    # Internal: one measurement in this (child) process.
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--materialize", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--graph", help=argparse.SUPPRESS)
    parser.add_argument("--transformed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args.output_dir = os.path.abspath(args.output_dir)

    if args.child:
        work = tempfile.mkdtemp(dir=args.work)
        args.work = work
        with open(args.result, "w") as f:
            json.dump(CHILDREN[args.child](args), f)
        return 0

    only = set(args.only or CHILDREN)
    work = tempfile.mkdtemp(prefix="tiedflow-trainer-input-")
    log = os.path.join(work, "bench.log")
    common = ["--output-dir", args.output_dir]
    results: dict = {"output_dir": args.output_dir, "cpus": os.cpu_count()}
    try:
        graph = ""
        if only & {"transform", "input"}:
            results["transform"] = in_child("transform", common, work, log)
            materialized = os.path.join(work, "materialized")
            os.makedirs(materialized)
            results["transform_materialized"] = in_child(
                "transform", [*common, "--materialize"], materialized, log
            )
            graph = _single(materialized, "graph")
            print(
                f"Transform, analysis only: {results['transform']['transform_s']} s "
                f"(child wall {results['transform']['wall_s']} s, peak "
                f"{results['transform']['peak_tree_rss_mb']:.0f} MB); with both splits "
                f"materialized: {results['transform_materialized']['transform_s']} s"
            )
        if "input" in only:
            transformed = _single(materialized, "transformed")
            results["input"] = {}
            for mode in args.modes.split(","):
                results["input"][mode] = row = in_child(
                    "input",
                    [
                        *common,
                        "--mode",
                        mode,
                        "--epochs",
                        str(args.epochs),
                        "--batch-size",
                        str(args.batch_size),
                        "--graph",
                        graph,
                        "--transformed",
                        transformed,
                    ],
                    work,
                    log,
                )
                print(
                    f"input {mode:<13} epochs {row['epoch_s']} s, {row['examples']} "
                    f"examples/epoch, peak {row['peak_tree_rss_mb']:.0f} MB"
                )
        if "trainer" in only:
            results["trainer"] = row = in_child(
                "trainer",
                [
                    *common,
                    "--train-steps",
                    str(args.train_steps),
                    *(["--graph", graph] if graph else []),
                ],
                work,
                log,
            )
            print(
                f"Trainer executor, {args.train_steps} steps: {row['trainer_s']} s "
                f"(child wall {row['wall_s']} s), peak {row['peak_tree_rss_mb']:.0f} MB"
            )
    finally:
        print(f"log: {log}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _single(root: str, name: str) -> str:
    """The one `name` folder a child made under `root` (children work in a temp dir)."""
    found = [
        os.path.join(root, d, name)
        for d in os.listdir(root)
        if os.path.isdir(os.path.join(root, d, name))
    ]
    if len(found) != 1:
        raise SystemExit(f"expected one {name} under {root}, found {found}")
    return found[0]


if __name__ == "__main__":
    sys.exit(main())
