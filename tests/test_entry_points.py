"""What the entry points do with a known error (issue 16, item 11): one line on stderr, exit
status 1, no empty run folder left behind; the full traceback with ``HYDRA_FULL_ERROR=1``."""

from __future__ import annotations

import pytest

from tests.cli import run_script

ONE_LINE = {"HYDRA_FULL_ERROR": "0"}


def cases(tmp_path):
    run = f"hydra.run.dir={tmp_path / 'run'}"
    return {
        "evaluate.py": (
            ["benchmark=got10k", f"benchmark.root={tmp_path / 'nope'}", run],
            "GOT-10k val split not found",
        ),
        "train.py": (
            [f"ckpt_path={tmp_path / 'nope.ckpt'}", "logger=none", run],
            "nope.ckpt: no such file",
        ),
        "demo.py": ([f"video={tmp_path / 'nope.mp4'}", "box=[1,2,3,4]", run], "nope.mp4: no such"),
        "export.py": (
            [f"checkpoint={tmp_path / 'nope.pkl'}", f"output_dir={tmp_path / 'onnx'}"],
            "nope.pkl: no such file",
        ),
        "compare.py": ([f"runs=[{tmp_path / 'a'},{tmp_path / 'b'}]", run], "a is not a folder"),
    }


@pytest.mark.parametrize(
    "script", ["evaluate.py", "train.py", "demo.py", "export.py", "compare.py"]
)
def test_known_error_is_one_line_and_leaves_no_empty_run_folder(tmp_path, script):
    args, message = cases(tmp_path)[script]
    proc = run_script(script, *args, cwd=tmp_path, env=ONE_LINE, fails=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "onnx").exists()


def test_full_error_shows_the_traceback(tmp_path):
    args, message = cases(tmp_path)["evaluate.py"]
    proc = run_script("evaluate.py", *args, cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"}, fails=True)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and message in proc.stderr
