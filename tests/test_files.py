"""Result files (``siamfcpp.io.files``): the permissions of a plain write (issue 16, item 7) and
write failures that name the path and the fix (item 12)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import torch

from siamfcpp.evaluation.datasets.one_pass import write_submission
from siamfcpp.io.files import atomic_write_bytes, atomic_write_json
from siamfcpp.io.run_dir import prepare_run_dir
from siamfcpp.training.pipeline import AtomicCheckpointIO


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_new_files_get_the_umask_permissions(tmp_path, umask):
    atomic_write_json(tmp_path / "metrics.json", {"AO": 0.5})
    AtomicCheckpointIO().save_checkpoint({"epoch": 0, "w": torch.ones(2)}, tmp_path / "last.ckpt")
    write_submission(tmp_path / "tracker.zip", tmp_path, ["metrics.json"])
    for name in ("metrics.json", "last.ckpt", "tracker.zip"):
        assert mode(tmp_path / name) == 0o666 & ~umask, name


def test_a_rewritten_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "boxes.txt"
    path.write_text("old\n")
    path.chmod(0o664)
    atomic_write_bytes(path, b"new\n")
    assert path.read_bytes() == b"new\n" and mode(path) == 0o664


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.ENOSPC, "No space left on device; free space on that device or choose another"),
        (errno.EACCES, "Permission denied; fix the folder's permissions or choose another"),
    ],
    ids=["disk-full", "no-permission"],
)
def test_a_failed_write_names_the_path_and_the_fix(tmp_path, monkeypatch, code, fix):
    path = tmp_path / "run" / "metrics.json"

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match=f"cannot write {path}: {fix} output_dir") as err:
        atomic_write_json(path, {"AO": 0.5})
    assert err.value.errno == code and "\n" not in str(err.value)
    assert sorted(p.name for p in path.parent.iterdir()) == []  # no temporary file left


def test_a_run_folder_under_a_file_names_it(tmp_path, compose_config):
    (tmp_path / "taken").write_text("a file\n")
    out = tmp_path / "taken" / "run"
    with pytest.raises(OSError, match=f"cannot write {out}: .*choose another output_dir"):
        prepare_run_dir(out, compose_config("evaluate"), task="evaluate")
