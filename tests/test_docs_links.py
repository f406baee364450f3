"""The documentation points only at things that exist, inside the repository.

README.md, CHANGELOG.md and docs/*.md name files, modules, tests and each
other; code moves, and a page that names the old place misleads whoever
reads it. A path in backticks is a current one: CHANGELOG.md writes a path
that no longer exists without them. Plain text parsing: no pipeline, no
TensorFlow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^(```|~~~)")
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
# Splits a code span or a code block line into words that may be paths.
WORD_SPLIT = re.compile(r"[\s=,;()\[\]{}\"'|<>]+")
# A path: parts of letters, digits, _ . - * joined by /.
PATH_WORD = re.compile(r"^\.?[\w.*-]+(?:/[\w.*-]+)*/?$")
TEST_REF = re.compile(r"^(test_\w+\.py)(?:::(\w+\*?))?$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, mailto:, gs:
DOTTED = re.compile(r"^[a-z_]\w*(?:\.\w+)+$")
# `ingestion.json`, `pipeline.yaml`: file names, not modules.
FILE_SUFFIXES = {
    "json",
    "yaml",
    "yml",
    "py",
    "md",
    "png",
    "txt",
    "pbtxt",
    "keras",
    "sqlite",
    "log",
    "html",
    "tfrecord",
    "toml",
    "lock",
    "sh",
    "conf",
    "pb",
    "gz",
}


def tracked_top_level() -> set[str]:
    """The repository's top-level entries that documentation may name as paths."""
    ignored = {".git", ".venv", "tiedflow_output", "bench_out", "build", "__pycache__"}
    return {p.name for p in ROOT.iterdir() if p.name not in ignored}


def split_page(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(prose lines, code-block lines), each as (line number, text)."""
    prose, code = [], []
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.strip()):
            in_fence = not in_fence
            continue
        (code if in_fence else prose).append((number, line))
    return prose, code


def paragraphs(prose: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Runs of non-blank prose lines joined, with the first one's number: a code
    span or a link may continue on the next line."""
    result: list[tuple[int, list[str]]] = []
    previous = None
    for number, line in prose:
        if not line.strip():
            previous = None
            continue
        if previous is None or number != previous + 1:
            result.append((number, []))
        result[-1][1].append(line)
        previous = number
    return [(number, "\n".join(lines)) for number, lines in result]


def line_of(start: int, text: str, offset: int) -> int:
    return start + text.count("\n", 0, offset)


def links(page: Path) -> list[tuple[int, str]]:
    """Every Markdown link target outside code, with its line number."""
    prose, _ = split_page(page.read_text(encoding="utf-8"))
    found = []
    for start, text in paragraphs(prose):
        bare = CODE_SPAN.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        found += [(line_of(start, bare, m.start()), m.group(1)) for m in INLINE_LINK.finditer(bare)]
        for offset, line in enumerate(bare.split("\n")):
            definition = REFERENCE_DEF.match(line)
            if definition:
                found.append((start + offset, definition.group(1)))
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose, _ = split_page(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def inside_repo(path: Path) -> bool:
    try:
        path.resolve().relative_to(ROOT)
    except ValueError:
        return False
    return True


def link_problem(page: Path, target: str) -> str | None:
    """Why `target`, a link on `page`, does not resolve inside the repository."""
    if EXTERNAL.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part) if path_part else page
    if path_part.startswith("/"):
        return "an absolute path: give it relative to the page"
    if not inside_repo(destination):
        return "leaves the repository"
    if not destination.exists():
        return "no such file"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"no heading with the anchor #{anchor} in {destination.relative_to(ROOT)}"
    return None


def code_words(page: Path) -> list[tuple[int, str]]:
    """Words in code spans and code blocks, with their line numbers."""
    prose, code = split_page(page.read_text(encoding="utf-8"))
    words = []
    for start, text in paragraphs(prose):
        for match in CODE_SPAN.finditer(text):
            number = line_of(start, text, match.start())
            words += [(number, w) for w in WORD_SPLIT.split(match.group(2)) if w]
    for number, line in code:
        words += [(number, w) for w in WORD_SPLIT.split(line) if w]
    return words


def module_problem(word: str) -> str | None:
    """Why `word`, if it is a dotted name in one of the project's packages
    (`trainer.task.run_fn`, `python -m pipeline.kubeflow.entrypoint`), names nothing."""
    parts = word.split(".")
    if not DOTTED.match(word) or parts[-1] in FILE_SUFFIXES:
        return None
    if not (ROOT / parts[0] / "__init__.py").exists():
        return None  # tf.saved_model.load, tfma.load_eval_result, ...
    path = ROOT / parts[0]
    for index, part in enumerate(parts[1:], 1):
        if (path / part / "__init__.py").exists():
            path = path / part
            continue
        if (path / f"{part}.py").exists():
            path = path / f"{part}.py"
            rest = parts[index + 1 :]
            break
        rest = parts[index:]
        path = path / "__init__.py"
        break
    else:
        return None
    if not rest:
        return None
    if len(rest) > 1:
        return f"{'.'.join(rest)} is not a name in {path.relative_to(ROOT)}"
    defined = rf"^(?:\s*(?:async\s+)?def |\s*class |){re.escape(rest[0])}\b\s*[(:=]"
    if not re.search(defined, path.read_text(encoding="utf-8"), re.MULTILINE):
        return f"nothing named {rest[0]} in {path.relative_to(ROOT)}"
    return None


def repo_path_problem(word: str, top_level: set[str]) -> str | None:
    """Why `word`, if it names a path in this repository, names none that exists.

    A word names a repository path when its first part is a top-level entry
    of the repository (`pipeline/local/runner.py`, `docs/`, `.ci/run`), or
    when it is a test file (`test_config.py`, `test_x.py::test_name*`)."""
    test = TEST_REF.match(word)
    if test:
        files = list((ROOT / "tests").rglob(test.group(1)))
        if not files:
            return "no such test file under tests/"
        name = test.group(2)
        if name:
            prefix = name.rstrip("*")
            end = "" if name.endswith("*") else "[(]"
            pattern = rf"^\s*(?:async\s+)?def {re.escape(prefix)}{end}"
            if not any(
                re.search(pattern, f.read_text(encoding="utf-8"), re.MULTILINE) for f in files
            ):
                return f"no test {name} in {test.group(1)}"
        return None
    word = word.rstrip(".:")
    if "/" not in word:
        return module_problem(word)
    if not PATH_WORD.match(word):
        return None
    first = word.split("/", 1)[0]
    if first not in top_level:
        return None  # generated output (serving/, pipeline_root/), other repositories, ...
    if "*" in word:
        return None if list(ROOT.glob(word.rstrip("/"))) else "matches no file"
    return None if (ROOT / word).exists() else "no such file or folder"


def test_the_readme_is_read_in_five_minutes():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; at most {README_MAX_LINES}: move the detail "
        "to a page under docs/ and link it"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page):
    problems = [
        f"{page.relative_to(ROOT)}:{number}: ({target}): {why}"
        for number, target in links(page)
        for why in [link_problem(page, target)]
        if why
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_named_in_code_exists(page):
    top_level = tracked_top_level()
    problems = [
        f"{page.relative_to(ROOT)}:{number}: `{word}`: {why}"
        for number, word in code_words(page)
        for why in [repo_path_problem(word, top_level)]
        if why
    ]
    assert not problems, "\n".join(problems)


def test_the_readme_links_every_docs_page():
    readme = ROOT / "README.md"
    linked = {
        (readme.parent / target.partition("#")[0]).resolve()
        for _, target in links(readme)
        if not EXTERNAL.match(target)
    }
    missing = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "docs").glob("*.md"))
        if p.resolve() not in linked
    ]
    assert not missing, f"README.md's 'Where to go next' does not link {missing}"


# The checks above must be able to fail: each is shown a case it has to catch.
def test_the_checks_catch_what_they_are_for(tmp_path):
    sample = tmp_path / "sample.md"
    sample.write_text(
        "A span over two lines, `python\n-m pipeline.gone`, and [a\nlink](x.md).\n\n"
        "```\nmake it pipeline/gone.py\n```\n",
        encoding="utf-8",
    )
    assert (1, "pipeline.gone") in code_words(sample)
    assert (6, "pipeline/gone.py") in code_words(sample)
    assert links(sample) == [(2, "x.md")]
    page = ROOT / "docs" / "x.md"
    top_level = tracked_top_level()
    assert link_problem(page, "../../outside.md") == "leaves the repository"
    assert link_problem(page, "missing.md") == "no such file"
    assert link_problem(ROOT / "README.md", "docs/data.md#no-such-heading").startswith("no heading")
    assert link_problem(ROOT / "README.md", "docs/data.md#curated-schema") is None
    assert link_problem(page, "https://example.com/x") is None
    assert repo_path_problem("pipeline/no_such_module.py", top_level) == "no such file or folder"
    assert repo_path_problem("tests/test_docs_links.py", top_level) is None
    assert repo_path_problem("serving/<version>", top_level) is None
    assert repo_path_problem("test_no_such_file.py", top_level) is not None
    assert repo_path_problem("test_docs_links.py::test_no_such_test", top_level) is not None
    assert repo_path_problem("test_docs_links.py::test_the_readme_*", top_level) is None
    assert repo_path_problem("trainer.task.run_fn", top_level) is None
    assert repo_path_problem("trainer.task.no_such_fn", top_level) is not None
    assert repo_path_problem("pipeline.no_such_module", top_level) is not None
    assert repo_path_problem("ingestion.json", top_level) is None
    assert (
        slug("Tied against untied: `make bench-trainer`")
        == "tied-against-untied-make-bench-trainer"
    )
