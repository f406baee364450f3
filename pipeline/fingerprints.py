"""One fingerprint per component, over exactly the project modules its executor loads.

TFX keys its cache on a component's inputs and execution properties. A
Trainer or Transform given a module path (`trainer.task.run_fn`) keeps the
same key when the code behind the path changes, and the project's own
executors change with their code too; so each component that runs project
code gets a `code_version`: a sha256 over the sources of its entry modules
and every project module they import, found by reading their imports
(`import x`, `from x import y`, also inside functions). Editing a module
re-runs the components that load it and no others.
"""

from __future__ import annotations

import ast
import hashlib
import pathlib
from collections.abc import Iterable, Mapping

from names import component_ids as ids

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Top-level packages and modules of the project (everything else is a library).
PROJECT = (
    "pipeline",
    "components",
    "ingestion",
    "trainer",
    "evaluation",
    "reporting",
    "pushed_models",
    "names",
)

# Component id -> the modules its executor loads by name: its component
# module, plus what TFX loads from a module path (run_fn, preprocessing_fn)
# and what TFMA loads from the EvalConfig (the project's metrics).
# StatisticsGen is TFX's own and runs none of the project's code. Every
# component id of the pipeline is a key here (a test checks it), so a new
# component cannot silently go without a fingerprint.
ENTRY_MODULES: Mapping[str, tuple[str, ...]] = {
    ids.IMAGE_EXAMPLE_GEN: ("components.example_gen",),
    ids.STATISTICS_GEN: (),
    ids.SCHEMA_GEN: ("components.schema_gen",),
    ids.EXAMPLE_VALIDATOR: ("components.validator",),
    ids.TRANSFORM: ("components.transform", "trainer.preprocessing"),
    ids.TRAINER: ("components.trainer", "trainer.task"),
    ids.LATEST_PUSHED_MODEL: ("components.baseline",),
    ids.WARM_START_MODEL: ("components.baseline",),
    ids.EVALUATOR: ("components.evaluator", "evaluation.metrics"),
    ids.PUSHER: ("components.pusher",),
    ids.EVALUATION_REPORT: ("components.report", "reporting.page"),
}


def _source(module: str) -> pathlib.Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(path: pathlib.Path, module: str) -> set[str]:
    """Project modules named by the imports in one source file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(p for p in [*parts, base] if p)
            found.add(base)
            # `from trainer import data` imports the submodule trainer.data.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in PROJECT and _source(m)}


def closure(entry_modules: Iterable[str]) -> list[str]:
    """The entry modules, every project module they import, and their packages."""
    seen: set[str] = set()
    pending = list(entry_modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        path = _source(module)
        if path is None:
            raise ValueError(f"fingerprint: no source for project module {module!r}")
        seen.add(module)
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # __init__s run too
        pending.extend(_imported(path, module))
    return sorted(seen)


def fingerprint(entry_modules: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for module in closure(entry_modules):
        digest.update(module.encode() + b"\0")
        source = _source(module)
        assert source is not None, module  # closure() keeps only modules with a source
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def code_versions() -> dict[str, str]:
    """Component id -> the fingerprint of the code its executor loads."""
    return {
        component: fingerprint(modules) for component, modules in ENTRY_MODULES.items() if modules
    }
