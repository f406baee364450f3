"""A whole local run, supervised: what `tiedflow run` does between parsing and the verdict.

lock the output dir → choose the Beam mode → check the ML Metadata store →
recover what a killed run left → watch the run's log → run the pipeline →
read this run's outcome → copy its report. The CLI parses and prints; this
module owns the order, so every caller gets the same guarantees.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.config import PipelineConfig
from pipeline.local import interrupt, progress, recovery
from pipeline.local.output_lock import lock_output_dir
from pipeline.local.store_check import check_store

if TYPE_CHECKING:  # ML Metadata loads inside the watched run, for its log
    from pipeline.local.outcome import RunOutcome


def _print(text: str) -> None:
    from ingestion.terminal_text import terminal_safe

    print(terminal_safe(text), flush=True)


@dataclasses.dataclass(frozen=True)
class LocalRun:
    """What a finished local run left: its outcome (pipeline.local.outcome) and report copy."""

    outcome: RunOutcome
    report: str | None

    @property
    def exit_status(self) -> int:
        """0 blessed and pushed, 3 not blessed (pipeline.errors)."""
        from pipeline.errors import EXIT_NOT_BLESSED, EXIT_OK

        return EXIT_OK if self.outcome.blessed and self.outcome.pushed_dir else EXIT_NOT_BLESSED


def with_local_beam_mode(
    config: PipelineConfig, say: Callable[[str], None] = _print
) -> PipelineConfig:
    """The config with the Beam mode the data's size calls for, before the user's flags."""
    from pipeline.beam_args import local_default

    chosen = local_default(config.data, config.beam_args)
    if not chosen:
        return config
    say(
        f"beam: {' '.join(chosen)} (the data is large enough for worker processes to "
        "pay; --beam-arg=--direct_running_mode=in_memory runs in one process)"
    )
    return config.replace(beam_args=(*chosen, *config.beam_args))


def run_locally(
    config: PipelineConfig,
    *,
    orchestrator: str = "local",
    verbose: bool = False,
    say: Callable[[str], None] = _print,
) -> LocalRun:
    """Runs the pipeline on this machine under `config`; raises on failure.

    Ctrl-C or SIGTERM raises pipeline.local.interrupt.Interrupted, naming the
    component it stopped, after marking the run's unfinished executions."""
    config = with_local_beam_mode(config, say)
    lock_output_dir(config.output_dir)
    check_store(config.metadata_path)
    metadata_path = os.path.abspath(config.metadata_path)
    pipeline_root = os.path.abspath(config.pipeline_root)
    for line in recovery.recover(metadata_path, pipeline_root, config.output_dir):
        say(line)
    log_path = progress.log_path_for(config.logs_dir)
    say(f"log: {log_path}" + ("" if verbose else " (--verbose shows it live)"))
    run_id = None
    with progress.watched_run(log_path, verbose=verbose) as watch:
        try:
            # TensorFlow and TFX load in here: their import-time warnings go to the log too.
            from pipeline.local import outcome, reports, runner

            run_id = runner.new_run_id()
            ran = runner.run(
                config, orchestrator=orchestrator, on_built=watch.expect, run_id=run_id
            )
            # This run's own pipeline-run context, not the newest in the store.
            result = outcome.read_outcome(ran.metadata_path, ran.pipeline_name, run_id=run_id)
            done = LocalRun(result, reports.copy_run_report(result, ran.reports_dir))
            _record_exit(metadata_path, run_id, done.exit_status, say=say)
            return done
        except BaseException as err:
            stopped = interrupt.stopped_by(err)  # Ctrl-C or SIGTERM
            if stopped is None:
                from pipeline.errors import exit_status_of

                _record_exit(metadata_path, run_id, *exit_status_of(err), say=say)
                raise
            stopped.during = watch.where()
            recovery.cancel_unfinished(metadata_path, pipeline_root)
            where = f" during {stopped.during}" if stopped.during else ""
            _record_exit(
                metadata_path,
                run_id,
                stopped.exit_status,
                f"interrupted by {stopped}{where}",
                say=say,
            )
            raise stopped from None


def _record_exit(
    metadata_path: str,
    run_id: str | None,
    exit_status: int,
    error: str | None = None,
    say: Callable[[str], None] = _print,
) -> None:
    """The run's exit status (and error) on its run context, for `tiedflow runs`
    (pipeline.local.history); failing to write it never hides the run's outcome."""
    if run_id is None:  # stopped before the run began
        return
    from pipeline.local import history

    try:
        history.record_exit(metadata_path, run_id, exit_status, error)
    except Exception as err:  # noqa: BLE001 - the run's own result matters more
        say(f"(could not record the run's exit status in ML Metadata: {err})")
