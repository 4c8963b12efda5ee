"""Run the project's entry points (``train.py``, ``evaluate.py``, ...) as a user does, in a
subprocess, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_script(
    script: str,
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    fails: bool = False,
) -> subprocess.CompletedProcess:
    """``python <REPO>/<script> <args>`` in ``cwd``; asserts that it succeeded, or with
    ``fails=True`` that it failed (either way the output is in the assertion message).

    wandb stays offline, Hydra prints full tracebacks and rich tables are wide enough to read;
    ``env`` adds to or overrides those variables.
    """
    env = {
        **os.environ,
        "HYDRA_FULL_ERROR": "1",
        "COLUMNS": "160",
        "WANDB_MODE": "offline",
        **(env or {}),
    }
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    outcome = "succeeded" if fails else "failed"
    assert (proc.returncode != 0) == fails, f"{script} {outcome}:\n{proc.stdout}\n{proc.stderr}"
    return proc
