"""The image pipeline.yaml names: TFX 1.16.0 plus every project package, from the lock.

These checks keep the Dockerfile in step with pyproject.toml, the lock and the
compiled spec without building it; `make test-image` builds the image and runs
every task in it (tests/test_image.py).
"""

from __future__ import annotations

import fnmatch
import os
import re

from pipeline.kubeflow import compiler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name):
    with open(os.path.join(REPO, name)) as f:
        return f.read()


def _packages():
    import tomli

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        included = tomli.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({name.split(".")[0] for name in included})  # the top-level folders


def _instructions():
    text = re.sub(r"\\\n", " ", _read("Dockerfile"))
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_base_is_tfx_1_16_0():
    lines = _instructions()
    assert "ARG TFX_IMAGE=gcr.io/tfx-oss-public/tfx:1.16.0" in lines
    assert [line for line in lines if line.startswith("FROM")] == ["FROM ${TFX_IMAGE}"]


def test_installs_the_lock_without_resolving_then_the_project():
    lines = _instructions()
    lock = next(i for i, l in enumerate(lines) if "-r requirements.lock" in l)
    project = next(i for i, l in enumerate(lines) if re.search(r"pip install .* \.( |$)", l))
    assert "--no-deps" in lines[lock] and "--no-deps" in lines[project]
    assert lock < project
    copied = {l.split()[1] for l in lines[:project] if l.startswith("COPY")}
    assert {"requirements.lock", "pyproject.toml", *_packages()} <= copied


def test_dockerignore_admits_what_the_dockerfile_copies():
    rules = [
        l.strip()
        for l in _read(".dockerignore").splitlines()
        if l.strip() and not l.startswith("#")
    ]

    def included(path):
        keep = True
        for rule in rules:
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    for path in ["requirements.lock", "pyproject.toml", *_packages()]:
        assert included(path), path
    for path in [".venv", "tiedflow_output", ".git", "tests"]:
        assert not included(path), path


def test_default_image_tag_is_the_project_version_the_dockerfile_builds():
    version = re.search(r'^version = "(.+)"', _read("pyproject.toml"), re.M).group(1)
    assert compiler.default_image() == f"tiedflow:{version}"
    assert f"docker build -t {compiler.default_image()} ." in _read("Dockerfile")


def test_environment_tasks_need_is_set_in_the_image():
    env = " ".join(l for l in _instructions() if l.startswith("ENV"))
    for name in ("PYTHONUNBUFFERED", "MPLBACKEND", "MPLCONFIGDIR", "KERAS_HOME"):
        assert f"{name}=" in env, name
