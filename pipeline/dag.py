"""create_pipeline(config): wiring only; no environment, file system or I/O.

ImageExampleGen -> StatisticsGen -> SchemaGen (inferred, or the curated `schema`
file) -> ExampleValidator (anomalies stop the run) -> Transform -> Trainer;
LatestPushedModel (baseline) -> Evaluator -> Pusher (blessed only);
EvaluationReport renders evaluation, blessing and statistics into one HTML file.

(Not `pipeline/pipeline.py`: the tfx CLI runs `pipeline/local/runner.py` as a
script, with this folder first on sys.path, where such a file would shadow
the `pipeline` package.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tfx.components import StatisticsGen
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import transform_pb2

from components.baseline import LatestPushedModel
from components.evaluator import Evaluator
from components.example_gen import ImageExampleGen
from components.pusher import Pusher
from components.report import EvaluationReport
from components.schema_gen import SchemaGen
from components.trainer import Trainer
from components.transform import Transform
from components.validator import ExampleValidator
from evaluation.eval_config import build_eval_config
from names.component_ids import (
    EVALUATION_REPORT,
    EVALUATOR,
    EXAMPLE_VALIDATOR,
    IMAGE_EXAMPLE_GEN,
    LATEST_PUSHED_MODEL,
    PUSHER,
    SCHEMA_GEN,
    STATISTICS_GEN,
    TRAINER,
    TRANSFORM,
    WARM_START_MODEL,
)
from names.knobs import received_by
from trainer.hparams import DATA_SETTINGS, HParams, warm_start_source

TRANSFORM_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"
# --sdk_container_image=none: without a dependency flag TFX's Beam executors
# copy the installed tfx package and build an sdist of it for every Beam
# component (about 1 s each, 49 MB left in /tmp), which in-process runners never use.
DEFAULT_BEAM_ARGS = (
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
    "--sdk_container_image=none",
)


def create_pipeline(
    config,
    *,
    code_versions: Mapping[str, str] = {},
    metadata_connection_config=None,
    runtime: Mapping[str, Any] | None = None,
) -> tfx_pipeline.Pipeline:
    """Wires the components.

    `code_versions` maps a component id to the fingerprint of its code
    (pipeline.fingerprints), part of TFX's cache key; `runtime` maps knob
    names to placeholders (Kubeflow RuntimeParameters) that replace the
    config's values."""
    runtime = dict(runtime or {})

    def value(name: str):
        return runtime.get(name, getattr(config, name))

    def code(component_id: str) -> str:
        return code_versions.get(component_id, "")

    def knobs(component_id: str) -> dict[str, Any]:
        """The knobs names.knobs routes to `component_id`, by name."""
        return {knob.name: value(knob.name) for knob in received_by(component_id)}

    ingestion = knobs(IMAGE_EXAMPLE_GEN)
    if isinstance(ingestion["classes"], tuple):  # the config's list travels as "a,b,c"
        ingestion["classes"] = ",".join(str(c) for c in ingestion["classes"])
    example_gen = ImageExampleGen(**ingestion, code_version=code(IMAGE_EXAMPLE_GEN)).with_id(
        IMAGE_EXAMPLE_GEN
    )
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"]).with_id(STATISTICS_GEN)
    # The same component whether the schema is inferred or loaded from a file:
    # the graph does not depend on the `schema` setting (a Kubeflow run parameter).
    schema_gen = SchemaGen(
        statistics=statistics_gen.outputs["statistics"],
        infer_feature_shape=True,
        schema_file=value("schema"),
        code_version=code(SCHEMA_GEN),
    ).with_id(SCHEMA_GEN)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        code_version=code(EXAMPLE_VALIDATOR),
    ).with_id(EXAMPLE_VALIDATOR)
    # The analyzers (per-channel mean and variance) see the training split only;
    # nothing is materialized: the Trainer reads the raw examples through the
    # graph (trainer.data; docs/model.md has the measured alternative).
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=TRANSFORM_FN,
        disable_statistics=True,
        materialize=False,
        splits_config=transform_pb2.SplitsConfig(analyze=["train"]),
        custom_config={"code_version": code(TRANSFORM)},
    ).with_id(TRANSFORM)
    transform.add_upstream_node(example_validator)

    # Warm start continues from the newest model pushed to this output dir's
    # serving dir, or from a given SavedModel or serving dir (output dirs share
    # nothing); the evaluation baseline is looked up after training, see below.
    source = warm_start_source(config.warm_start)
    warm_start = (
        LatestPushedModel(
            serving_dir=value("serving_dir") if source == "pushed" else source,
            code_version=code(WARM_START_MODEL),
        ).with_id(WARM_START_MODEL)
        if source
        else None
    )

    trainer = Trainer(
        run_fn=RUN_FN,
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        base_model=warm_start.outputs["model"] if warm_start else None,
        # The data's image shape and classes are added by the Trainer's executor
        # from the Examples artifact, at run time.
        custom_config=HParams.from_config(config).to_custom_config(
            without=(*knobs(TRAINER), *DATA_SETTINGS)
        ),
        **knobs(TRAINER),
        code_version=code(TRAINER),
    ).with_id(TRAINER)

    # The last pushed model other than the candidate itself (no Resolver node:
    # Kubeflow's open-source backend cannot run one).
    baseline = LatestPushedModel(
        serving_dir=value("serving_dir"),
        candidate=trainer.outputs["model"],
        code_version=code(LATEST_PUSHED_MODEL),
    ).with_id(LATEST_PUSHED_MODEL)

    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=build_eval_config(config),
        **knobs(EVALUATOR),
        code_version=code(EVALUATOR),
    ).with_id(EVALUATOR)

    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        **knobs(PUSHER),
        code_version=code(PUSHER),
    ).with_id(PUSHER)

    report = EvaluationReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        baseline=baseline.outputs["model"],
        title=f"{config.pipeline_name} evaluation report",
        code_version=code(EVALUATION_REPORT),
        code_versions=json.dumps(dict(code_versions)) if code_versions else "",
    ).with_id(EVALUATION_REPORT)

    components = [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        transform,
        *([warm_start] if warm_start else []),
        trainer,
        baseline,
        evaluator,
        pusher,
        report,
    ]
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=value("pipeline_root"),
        components=components,
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=[*DEFAULT_BEAM_ARGS, *config.beam_args],
    )
