"""pyproject.toml: installing the project keeps a user's torch; CI still tests the pinned wheel."""

from __future__ import annotations

from pathlib import Path

import tomllib
import torch
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _requirements(group: str | None = None) -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {r.name: r for r in map(Requirement, lines)}


def test_torch_is_a_range_that_keeps_cuda_builds():
    spec = _requirements()["torch"].specifier
    assert not any(s.operator == "==" for s in spec)
    # the installed CPU wheel and the CUDA builds the GPU numbers were measured with
    for version in (torch.__version__.split("+")[0], "2.11.0", "2.13.0"):
        assert spec.contains(version), version
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index('pip install --quiet "torch==2.13.0"') < ci.index('-e ".[dev]"')


def test_pyav_is_optional_for_users_and_installed_for_the_tests():
    assert "av" not in _requirements()
    assert "av" in _requirements("video") and "av" in _requirements("dev")
