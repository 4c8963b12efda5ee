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
    check: bool = True,
) -> subprocess.CompletedProcess:
    """``python <REPO>/<script> <args>`` in ``cwd``; asserts it succeeded (output in the
    message) unless ``check`` is false.

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
    if check:
        assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc
