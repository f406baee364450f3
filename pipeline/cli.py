"""The `tiedflow` command line: run, compile, submit, report, predict.

Exit status of `run`: 0 blessed and pushed; 3 ran but not blessed (nothing
pushed); 2 bad input or configuration; 1 any other failure; 130 / 143
interrupted by Ctrl-C / SIGTERM (pipeline.interrupt).
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from pipeline import interrupt
from pipeline.config import DEFAULT_OUTPUT_DIR, ORCHESTRATORS

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_BLESSED = 0, 1, 2, 3


def _say(text: str = "", file=None) -> None:
    """print() for lines that may hold text from the data (class, folder and file
    names, a server's message): control characters are shown as escapes."""
    from ingestion.terminal_text import terminal_safe

    print(terminal_safe(text), file=file or sys.stdout)


def _quiet_logs(command: str) -> None:
    """`run` keeps library warnings and TensorFlow's own logs, for its log file
    (pipeline.progress); the other commands drop them (CUDA-stub noise on CPU
    machines, deprecations of the stack)."""
    if command == "run":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")


def _user_errors():
    from ingestion.errors import DataError
    from pipeline.config import ConfigError

    errors = (DataError, ConfigError)
    # Anomalies are raised by the validator's executor, so a run that found
    # some has imported it; importing it here would load TFX on every error.
    validator = sys.modules.get("components.validator")
    if validator is not None:
        errors += (validator.DataAnomaliesError,)
    return errors


def find_user_error(err: BaseException):
    """The DataError / anomaly / config error inside a wrapped exception, if any.

    Beam's multi-processing and portable runners send a worker's exception back
    as the text of its traceback only: a DataError there is found by its name."""
    from ingestion.errors import DataError

    user = _user_errors()
    seen, texts = set(), []
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, user):
            return err
        texts.append(str(err))
        err = err.__cause__ or err.__context__
    found = re.findall(r"^ingestion\.errors\.DataError: (.+)$", "\n".join(texts), re.MULTILINE)
    return DataError(found[-1]) if found else None


def cmd_run(args) -> int:
    from ingestion.sources import check_source
    from pipeline.config import PipelineConfig

    # Bad settings and data paths are reported before TFX and TensorFlow load.
    config = PipelineConfig(output_dir=args.output_dir, data=args.data,
                            beam_args=tuple(args.beam_arg)).with_overrides(args.set)
    check_source(config.data)
    from pipeline.beam_args import check_beam_args, local_default

    if config.beam_args:
        check_beam_args(config.beam_args)
    chosen = local_default(config.data, config.beam_args)
    if chosen:  # before the user's flags, which win
        config = config.replace(beam_args=(*chosen, *config.beam_args))
        _say(f"beam: {' '.join(chosen)} (the data is large enough for worker processes to "
             "pay; --beam-arg=--direct_running_mode=in_memory runs in one process)")
    from pipeline import progress

    _lock_output_dir(config.output_dir)
    from pipeline import recovery
    from pipeline.store_check import check_store

    check_store(config.metadata_path)
    metadata_path, pipeline_root = (os.path.abspath(config.metadata_path),
                                    os.path.abspath(config.pipeline_root))
    for line in recovery.recover(metadata_path, pipeline_root, config.output_dir):
        _say(line)
    log_path = progress.log_path_for(config.logs_dir)
    print(f"log: {log_path}" + ("" if args.verbose else " (--verbose shows it live)"),
          flush=True)
    with progress.watched_run(log_path, verbose=args.verbose) as watch:
        try:
            # TensorFlow and TFX load in here: their import-time warnings go to the log too.
            from pipeline import local_runner, outcome as outcome_lib, reports

            run_id = local_runner.new_run_id()
            ran = local_runner.run(config, orchestrator=args.orchestrator,
                                   on_built=watch.expect, run_id=run_id)
            # This run's own pipeline-run context, not the newest in the store.
            result = outcome_lib.read_outcome(ran.metadata_path, ran.pipeline_name,
                                              run_id=run_id)
            report = reports.copy_run_report(result, ran.reports_dir)
        except BaseException as err:
            stopped = interrupt.stopped_by(err)  # Ctrl-C or SIGTERM
            if stopped is None:
                raise
            stopped.during = watch.where()
            recovery.cancel_unfinished(metadata_path, pipeline_root)
            raise stopped from None
    accuracy = f"{result.accuracy:.4f}" if result.accuracy is not None else "n/a"
    if result.data:
        _say(f"data: {result.data}")
    _say(f"run {result.run_id}: overall eval accuracy {accuracy}")
    _say(f"evaluation: {result.evaluation_uri}")
    for line in (result.baseline_skipped or "").splitlines():
        _say(f"baseline: skipped {line}")
    _say(f"report: {report or '(none: the run stopped before the report)'}")
    if result.blessed and result.pushed_dir:
        _say(f"BLESSED and pushed to {result.pushed_dir}")
        return EXIT_OK
    _say("NOT BLESSED: nothing was pushed. Failed thresholds:")
    for line in result.failures or ["(no threshold details found)"]:
        _say(f"  - {line}")
    return EXIT_NOT_BLESSED


_LOCKS = []  # open lock files, held until the process ends


def _lock_output_dir(output_dir: str) -> None:
    """One run at a time per output dir: ML Metadata, the push destination and
    the run's printed outcome all assume it. A second run fails at once."""
    import fcntl

    from pipeline.config import ConfigError

    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConfigError(f"--output-dir {output_dir}: is a file, not a folder")
    try:
        os.makedirs(output_dir, exist_ok=True)
        lock = open(os.path.join(output_dir, ".run.lock"), "a+")
    except OSError as err:
        raise ConfigError(f"--output-dir {output_dir}: cannot be written ({err.strerror})"
                          ) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        raise ConfigError(f"--output-dir {output_dir}: another run is using it ({holder}); "
                          "wait for it to end, or use another --output-dir") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}\n")
    lock.flush()
    _LOCKS.append(lock)


def cmd_report(args) -> int:
    import time

    # Checked before importing TensorFlow (about 14 s on a 2-core machine).
    if not args.evaluation and not os.path.isdir(args.output_dir):
        print(f"tiedflow: error: {args.output_dir}: no such output dir", file=sys.stderr)
        return EXIT_USAGE
    from pipeline import reports

    start = time.time()
    if args.evaluation:
        page = reports.render_evaluation(args.evaluation, args.statistics)
        source = args.evaluation
        out = args.out or os.path.join(args.output_dir, "reports", "evaluation.html")
    else:
        from ingestion.errors import DataError

        try:
            page, run_id = reports.render_latest(args.output_dir)
        except LookupError as err:  # no run (evaluated) in this output dir
            raise DataError(f"{args.output_dir}: {err}; run `tiedflow run` there first, "
                            "or pass --evaluation URI") from None
        source = f"run {run_id}"
        out = args.out or os.path.join(args.output_dir, "reports", reports.report_name(run_id))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(page)
    _say(f"wrote {out} ({source}, {time.time() - start:.1f} s)")
    return EXIT_OK


def cmd_schema(args) -> int:
    """Copies the newest run's schema (inferred, or the curated file it loaded)
    to --output: a starting point for a curated schema (`--set schema=FILE`)."""
    import shutil

    from pipeline import outcome

    try:
        path, source = outcome.latest_schema(os.path.join(args.output_dir, "metadata.sqlite"))
    except (FileNotFoundError, LookupError) as err:
        print(f"tiedflow: error: {err}; run `tiedflow run --output-dir {args.output_dir}` "
              "first", file=sys.stderr)
        return EXIT_USAGE
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    shutil.copyfile(path, args.output)
    print(f"wrote {args.output} (from {path}; "
          f"{'loaded from ' + source if source else 'inferred from the data'})")
    return EXIT_OK


def cmd_compile(args) -> int:
    from pipeline.config import PipelineConfig
    from pipeline import kubeflow_runner

    from pipeline.beam_args import check_beam_args

    config = PipelineConfig(beam_args=tuple(check_beam_args(args.beam_arg))
                            ).with_overrides(args.set)
    image = args.image or kubeflow_runner.default_image()
    path = kubeflow_runner.compile_pipeline(args.output, image=image, config=config)
    print(f"wrote {path} (image {image}; run parameters: "
          f"{', '.join(kubeflow_runner.RUNTIME_PARAMETERS)})")
    return EXIT_OK


def cmd_submit(args) -> int:
    from pipeline import submit as submit_lib

    token = args.existing_token or submit_lib.read_token(args.token_file)
    try:
        done = submit_lib.submit(
            args.host, pipeline_file=args.pipeline_file, pipeline_root=args.pipeline_root,
            assignments=args.set, experiment=args.experiment, run_name=args.run_name,
            namespace=args.namespace, existing_token=token,
            enable_caching=False if args.no_cache else None)
    except submit_lib.SubmitError as err:
        _say(f"tiedflow: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    _say(f"submitted run {done.run_id}")
    _say(f"run URL: {done.run_url}")
    return EXIT_OK


def cmd_predict(args) -> int:
    from pushed_models import predict

    return predict.run(args.images, output_dir=args.output_dir, model=args.model,
                       abstain_below=args.abstain_below, as_json=args.json)


def cmd_generate(args) -> int:
    import time

    from ingestion import synthetic

    if args.n < 1:
        print("tiedflow: error: --n must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    start = time.time()
    synthetic.generate(args.out, args.n, args.format, image_size=args.image_size,
                       colour=args.colour, names=args.class_names, seed=args.seed)
    print(f"wrote {args.n} examples to {args.out} ({args.format}, {args.image_size}x"
          f"{args.image_size}{', colour' if args.colour else ''}"
          f"{', named classes' if args.class_names else ''}; {time.time() - start:.1f} s)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiedflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline on this machine")
    run.add_argument("--data", default="digits",
                     help="'digits' (embedded), an image folder DIR/<label>/*.png, "
                          "or TFRecord file(s)/glob")
    run.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    run.add_argument("--orchestrator", choices=ORCHESTRATORS, default="local")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one config knob (repeatable)")
    run.add_argument("--beam-arg", action="append", default=[], metavar="FLAG",
                     help="one flag for the Beam-powered components' beam_pipeline_args, "
                          "e.g. --beam-arg=--direct_running_mode=multi_processing (repeatable)")
    run.add_argument("--verbose", action="store_true",
                     help="show library warnings and TensorFlow/TFX logs live "
                          "(they always go to <output-dir>/logs/run-*.log)")
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="render the evaluation report (HTML) again")
    rep.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR,
                     help="render the latest run recorded here")
    rep.add_argument("--out", default=None, metavar="FILE.html",
                     help="where to write (default <output-dir>/reports/evaluation-<run>.html)")
    rep.add_argument("--evaluation", default=None, metavar="URI",
                     help="render this evaluation artifact (a TFMA output dir) instead")
    rep.add_argument("--statistics", default=None, metavar="URI",
                     help="with --evaluation: a StatisticsGen artifact for the class balance")
    rep.set_defaults(func=cmd_report)

    sch = sub.add_parser("schema", help="copy the newest run's data schema to a file, "
                                        "to curate and give back with --set schema=FILE")
    sch.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    sch.add_argument("--output", required=True, metavar="FILE",
                     help="where to write the schema (TFDV text format)")
    sch.set_defaults(func=cmd_schema)

    comp = sub.add_parser("compile", help="compile the Kubeflow Pipelines v2 spec (pipeline.yaml)")
    comp.add_argument("--image", default=None,
                      help="container image every task runs (default tiedflow:<version>)")
    comp.add_argument("--output", default="pipeline.yaml")
    comp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="fix one config knob in the compiled spec (repeatable)")
    comp.add_argument("--beam-arg", action="append", default=[], metavar="FLAG",
                      help="one Beam flag compiled into every Beam-powered task (repeatable)")
    comp.set_defaults(func=cmd_compile)

    sbm = sub.add_parser("submit", help="start a run of pipeline.yaml on a Kubeflow cluster")
    sbm.add_argument("--host", required=True, help="Kubeflow Pipelines API, e.g. http://localhost:8080")
    sbm.add_argument("--experiment", default="tiedflow")
    sbm.add_argument("--run-name", default=None)
    sbm.add_argument("--pipeline-root", default=None,
                     help="gs:// folder for the run's artifacts (required)")
    sbm.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="run parameter: data, serving_dir, train_steps, learning_rate, "
                          "accuracy_threshold (repeatable)")
    sbm.add_argument("--pipeline-file", default="pipeline.yaml")
    sbm.add_argument("--namespace", default=None, help="Kubernetes namespace (multi-user)")
    token = sbm.add_mutually_exclusive_group()
    token.add_argument("--token-file", default=None, metavar="PATH",
                       help="file holding the bearer token for the API (default: the "
                            "KFP_TOKEN environment variable, if set)")
    token.add_argument("--existing-token", default=None, metavar="TOKEN",
                       help="bearer token given inline; avoid it: any user of this machine "
                            "can read it in the process list (use --token-file or KFP_TOKEN)")
    sbm.add_argument("--no-cache", action="store_true", help="disable KFP caching for this run")
    sbm.set_defaults(func=cmd_submit)

    gen = sub.add_parser("generate", help="write a deterministic data set made from the "
                                          "embedded digits (shifted, rotated, noisy)")
    gen.add_argument("--n", type=int, required=True, help="number of examples")
    gen.add_argument("--format", choices=("folder", "tfrecord"), required=True,
                     help="folder: OUT/<class>/<i>.png; tfrecord: gzipped tf.Examples "
                          "(pixels, label)")
    gen.add_argument("--image-size", type=int, choices=(8, 28), default=8)
    gen.add_argument("--out", required=True, metavar="DIR")
    gen.add_argument("--colour", action="store_true", help="RGB images with a random tint")
    gen.add_argument("--class-names", action="store_true",
                     help="classes named zero..nine (folders, or bytes labels) instead of ids")
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(func=cmd_generate)

    prd = sub.add_parser("predict", help="label image files with the latest pushed model")
    where = prd.add_mutually_exclusive_group()
    where.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR,
                       help="use the newest model pushed under <output-dir>/serving")
    where.add_argument("--model", default=None, metavar="DIR",
                       help="a SavedModel dir (or a serving dir of version folders)")
    prd.add_argument("--abstain-below", type=float, default=None, metavar="P",
                     help="abstain when the top probability is below P "
                          "(default: the abstain_below the model was pushed with)")
    prd.add_argument("--json", action="store_true",
                     help="one JSON object per image: file, label, probability, abstained, error")
    prd.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files, any size")
    prd.set_defaults(func=cmd_predict)
    return parser


def main(argv=None) -> int:
    """The console script. Run as a program (`argv` None), it ends the process
    without the interpreter's teardown of TensorFlow and Beam (about 1.5 s),
    once its output is flushed; called with arguments (tests) it returns."""
    code = _main(argv)
    if argv is None:
        import logging

        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_logs(args.command)
    try:
        with interrupt.signals_raise():
            return args.func(args)
    except BaseException as err:  # map to the documented exit statuses
        if isinstance(err, SystemExit):
            raise
        stopped = interrupt.stopped_by(err)
        if stopped is not None:  # Ctrl-C or SIGTERM: a line, no traceback
            where = f" during {stopped.during}" if stopped.during else ""
            resume = ("; run the same command again to resume: finished components are reused"
                      if args.command == "run" else "")
            print(f"tiedflow: interrupted by {stopped}{where}{resume}", file=sys.stderr)
            return stopped.exit_status
        user_error = find_user_error(err)
        if user_error is not None:
            # Beam re-raises an error from a worker with the step appended.
            message = re.sub(r"\s*\[while running '[^']*'\]", "", str(user_error))
            _say(f"tiedflow: error: {message}", file=sys.stderr)
            return EXIT_USAGE
        _say(f"tiedflow: failed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
