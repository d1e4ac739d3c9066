"""Fixtures for the production tests: the project copy with its front end built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.production import build_front_end
from tests.support.server import copy_project


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo_root = Path(__file__).resolve().parents[2]
    work = tmp_path_factory.mktemp("production")
    project = copy_project(repo_root, work / "referral_app")
    build_front_end(project, work)
    return project
