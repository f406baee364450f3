"""`tiedflow submit`: start a run of pipeline.yaml on a Kubeflow Pipelines cluster."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.output import say
from pipeline.errors import EXIT_FAILURE, EXIT_OK
from pipeline.kubeflow.parameters import RUNTIME_PARAMETERS


def add_parser(sub) -> None:
    sbm = sub.add_parser("submit", help="start a run of pipeline.yaml on a Kubeflow cluster")
    sbm.add_argument(
        "--host", required=True, help="Kubeflow Pipelines API, e.g. http://localhost:8080"
    )
    sbm.add_argument("--experiment", default="tiedflow")
    sbm.add_argument("--run-name", default=None)
    sbm.add_argument(
        "--pipeline-root", default=None, help="gs:// folder for the run's artifacts (required)"
    )
    sbm.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one run parameter (repeatable): "
        f"{', '.join(RUNTIME_PARAMETERS)}; docs/knobs.md says what each does",
    )
    sbm.add_argument("--pipeline-file", default="pipeline.yaml")
    sbm.add_argument("--namespace", default=None, help="Kubernetes namespace (multi-user)")
    token = sbm.add_mutually_exclusive_group()
    token.add_argument(
        "--token-file",
        default=None,
        metavar="PATH",
        help="file holding the bearer token for the API (default: the "
        "KFP_TOKEN environment variable, if set)",
    )
    token.add_argument(
        "--existing-token",
        default=None,
        metavar="TOKEN",
        help="bearer token given inline; avoid it: any user of this machine "
        "can read it in the process list (use --token-file or KFP_TOKEN)",
    )
    sbm.add_argument("--no-cache", action="store_true", help="disable KFP caching for this run")


def execute(args: argparse.Namespace) -> int:
    from pipeline.kubeflow import submit as submit_lib

    token = args.existing_token or submit_lib.read_token(args.token_file)
    try:
        done = submit_lib.submit(
            args.host,
            pipeline_file=args.pipeline_file,
            pipeline_root=args.pipeline_root,
            assignments=args.set,
            experiment=args.experiment,
            run_name=args.run_name,
            namespace=args.namespace,
            existing_token=token,
            enable_caching=False if args.no_cache else None,
        )
    except submit_lib.SubmitError as err:
        say(f"tiedflow: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    say(f"submitted run {done.run_id}")
    say(f"run URL: {done.run_url}")
    return EXIT_OK
