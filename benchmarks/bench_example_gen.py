"""ImageExampleGen alone: its executor (read, convert, split, write) on a data
glob, in a child process, with its wall seconds and peak RSS (whole process
tree, benchmarks/measured.py). `--source DIR` runs another checkout's executor
(an older commit) on the same files.

    python benchmarks/bench_example_gen.py --data 'DIR/*.tfrecord.gz' \
        --set pixel_encoding=bytes --set image_shape=28,28
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

from measured import run_measured

_RUN = """
import json, sys
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.types import standard_artifacts
from components.example_gen import Executor
out, props, beam_args = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
examples = standard_artifacts.Examples()
examples.uri = out
Executor(BaseBeamExecutor.Context(beam_pipeline_args=beam_args, tmp_dir=out + ".tmp")).Do(
    {}, {"examples": [examples]}, props)
counts = {k: examples.get_int_custom_property(k) for k in ("train_examples", "eval_examples")}
print(json.dumps(counts))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="an ImageExampleGen setting (ingestion.settings), e.g. pixel_encoding=bytes",
    )
    parser.add_argument("--beam-arg", action="append", default=[], metavar="FLAG")
    parser.add_argument("--source", default=None, metavar="DIR")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    props: dict = {"data": args.data}
    for item in args.set:
        key, value = item.split("=", 1)
        props[key] = int(value) if value.lstrip("-").isdigit() else value
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = os.path.abspath(args.source)
    work = tempfile.mkdtemp(prefix="bench-example-gen-")
    try:
        result = run_measured(
            [
                sys.executable,
                "-c",
                _RUN,
                os.path.join(work, "examples"),
                json.dumps(props),
                json.dumps(args.beam_arg),
            ],
            os.path.join(work, "log"),
            env=env,
            cwd=work,
        )
        result.pop("samples")
        if result["exit_code"]:
            print(open(os.path.join(work, "log")).read()[-3000:], file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps({"label": args.label, "data": args.data, "beam_args": args.beam_arg, **result})
    )
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
