"""Every use of a private TFX method, in one place, each with why there is no other way.

Everything else in the project reaches TFX through its public modules. A TFX
release that changes what one of these does fails its test by name in
tests/test_tfx_internals.py, which pins the behaviour relied on here.
"""

from __future__ import annotations


def make_beam_pipeline(executor):
    """The Beam pipeline of a BaseBeamExecutor subclass, made as TFX's own Beam
    executors make theirs: from the component's `beam_pipeline_args` (the
    runner, `direct_running_mode`, every `--beam-arg`) with TFX's dependency
    flags added, or by the orchestrator's `make_beam_pipeline_fn` when it gives one.

    Why private: BaseBeamExecutor keeps the arguments and the function in
    private attributes and offers only `_make_beam_pipeline()`, which
    StatisticsGen, Transform, Evaluator and TFX's ExampleGens call too; making
    a `beam.Pipeline` here instead would drop the orchestrator's settings."""
    return executor._make_beam_pipeline()


def mark_pushed(executor, model_push, destination: str, version: str | None) -> None:
    """Records a push on the PushedModel artifact the way TFX's Pusher does:
    custom properties `pushed` = 1, `pushed_destination` and `pushed_version`
    (what pipeline.local.outcome and pipeline.local.recovery read, and what
    tools that read TFX's ML Metadata expect).

    Why private: the property names are private constants of
    tfx.components.pusher.executor, and `_MarkPushed` is the method TFX's own
    pushers (Vertex AI, BigQuery) call; writing the names here would copy them
    and miss a change."""
    executor._MarkPushed(model_push, pushed_destination=destination, pushed_version=version)


def mark_not_pushed(executor, model_push) -> None:
    """Records that nothing was pushed (`pushed` = 0), as TFX's Pusher does for
    a model that was not blessed. Why private: as for mark_pushed."""
    executor._MarkNotPushed(model_push)
