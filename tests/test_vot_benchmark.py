"""VOT benchmark end to end on a tiny data set written by the test: readers for both layouts, the
reset protocol's result lines, resuming, and the report files.

``scripted_run`` in ``tests/fixtures/vot_reference.json``: the official VOT toolkit's numbers
(``vot-toolkit`` 0.9.0, ``vot analysis`` with the supervised AR analysis and an EAO score over
``[5, 15]``) on the result files this test's scripted run writes, in a workspace made by
:func:`write_workspace` with the toolkit's ``sequence`` files added.

``original_protocol_sha256``: SHA-256 of the result files the ORIGINAL implementation's reset
protocol writes (``VOTTester.track_single_video`` of ``videoanalyst/engine/tester/tester_impl/
vot.py``, run once with :class:`ScriptedTracker` on the same workspace read by its own loader, the
frames renamed ``.jpg`` as it only lists those): same init boxes (asserted by the tracker), same
failure frames, same re-initialisations, same line format.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamfcpp.evaluation.datasets.vot import VOTBenchmark
from siamfcpp.evaluation.datasets.vot_layout import init_box_xywh, read_vot
from siamfcpp.evaluation.metrics.vot import (
    SequenceScore,
    accuracy_robustness,
    count_failures,
    eao_curve,
    eao_runs,
    eao_score,
    frame_overlaps,
    sequence_accuracy,
)
from siamfcpp.evaluation.trajectory import read_trajectory, trajectory_path
from siamfcpp.tracking.engine import SequentialSlots

FIXTURE = Path(__file__).parent / "fixtures" / "vot_reference.json"
SIZE = (96, 72)  # width, height
# name, frames, frames where the scripted tracker loses the target
SCRIPT = {"alpha": (30, {5, 11, 28}), "beta": (20, set()), "gamma": (25, {24})}


def _region(t: int, seq_id: int) -> np.ndarray:
    """A rotated box drifting right; beta's is annotated as an axis-aligned rectangle."""
    cx, cy, w, h, a = 20 + 1.5 * t + 3 * seq_id, 30 + 0.5 * t, 24.0, 16.0, 0.3 + 0.02 * t
    if seq_id == 1:
        return np.round([cx - w / 2, cy - h / 2, w, h], 2)
    c, s = np.cos(a), np.sin(a)
    pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.round([v for dx, dy in pts for v in (cx + c * dx - s * dy, cy + s * dx + c * dy)], 2)


def _frame(t: int, seq_id: int) -> np.ndarray:
    """Frames carry index and sequence in pixel (0, 0), which the scripted tracker reads."""
    frame = np.full((SIZE[1], SIZE[0], 3), 90, dtype=np.uint8)
    frame[0, 0] = (t, seq_id, 0)
    return frame


def write_workspace(root: Path, *, frames_in_color: bool = True) -> Path:
    """VOT toolkit workspace (``sequences/list.txt``); PNG frames, lossless for the script."""
    seq_root = root / "sequences"
    seq_root.mkdir(parents=True)
    (seq_root / "list.txt").write_text("".join(f"{n}\n" for n in SCRIPT))
    for seq_id, (name, (length, _)) in enumerate(SCRIPT.items()):
        folder = seq_root / name
        frame_dir = folder / "color" if frames_in_color else folder
        frame_dir.mkdir(parents=True)
        for t in range(length):
            cv2.imwrite(str(frame_dir / f"{t + 1:08d}.png"), _frame(t, seq_id))
        if name == "gamma":  # the toolkit's per-sequence metadata, naming the frame pattern
            (folder / "sequence").write_text(
                f"channels.color={'color/' if frames_in_color else ''}%08d.png\n"
                f"width={SIZE[0]}\nheight={SIZE[1]}\nlength={length}\n"
            )
        regions = [_region(t, seq_id) for t in range(length)]
        (folder / "groundtruth.txt").write_text(
            "".join(",".join(f"{v:.2f}" for v in r) + "\n" for r in regions)
        )
    return root


def write_pysot(root: Path, *, with_img_names: bool) -> Path:
    """pysot layout: ``VOT2018.json`` next to the sequence folders."""
    write_workspace(root / "ws")
    meta = {}
    for seq_id, (name, (length, _)) in enumerate(SCRIPT.items()):
        shutil.copytree(root / "ws" / "sequences" / name, root / name)
        meta[name] = {
            "video_dir": name,
            "init_rect": _region(0, seq_id).tolist(),
            "img_names": [f"{name}/color/{t + 1:08d}.png" for t in range(length)]
            if with_img_names
            else [],
            "gt_rect": [_region(t, seq_id).tolist() for t in range(length)],
            "camera_motion": [],
            "width": SIZE[0],
            "height": SIZE[1],
        }
    shutil.rmtree(root / "ws")
    (root / "VOT2018.json").write_text(json.dumps(meta))
    return root


class ScriptedTracker:
    """Reports the annotated region's init box, except on scripted frames: a box far outside."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def init(self, frame: np.ndarray, box_xywh: np.ndarray) -> None:
        t, seq_id = int(frame[0, 0, 0]), int(frame[0, 0, 1])
        np.testing.assert_array_equal(box_xywh, init_box_xywh(_region(t, seq_id)))
        self.calls.append(f"init {list(SCRIPT)[seq_id]} {t}")

    def update(self, frame: np.ndarray) -> np.ndarray:
        t, seq_id = int(frame[0, 0, 0]), int(frame[0, 0, 1])
        name = list(SCRIPT)[seq_id]
        self.calls.append(f"update {name} {t}")
        if t in SCRIPT[name][1]:
            return np.array([500.0, 500.0, 10.0, 10.0])
        return init_box_xywh(_region(t, seq_id))


def make_benchmark(root: Path) -> VOTBenchmark:
    return VOTBenchmark(
        root, "VOT2018", eao_interval=[5, 15], reinit_delay=5, burnin=10, sequences=sorted(SCRIPT)
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("vot"))


def test_layouts_read_the_same_sequences(workspace, tmp_path):
    reference = read_vot(workspace, "VOT2018")
    others = [
        read_vot(workspace / "sequences", "VOT2018"),
        read_vot(write_workspace(tmp_path / "old", frames_in_color=False), "VOT2018"),
        read_vot(write_pysot(tmp_path / "pysot", with_img_names=True), "VOT2018"),
        read_vot(write_pysot(tmp_path / "pysot19", with_img_names=False), "VOT2018"),
    ]
    assert [s.name for s in reference] == sorted(SCRIPT)
    for sequences in others:
        for a, b in zip(reference, sequences, strict=True):
            assert a.name == b.name and a.image_size == b.image_size == SIZE
            assert [f.name for f in a.frames] == [f.name for f in b.frames]
            np.testing.assert_array_equal(a.gt, b.gt)
            np.testing.assert_array_equal(a.polygons, b.polygons)
            for ra, rb in zip(a.regions, b.regions, strict=True):
                np.testing.assert_array_equal(ra, rb)
    beta = reference[1]
    assert beta.regions[0].size == 4 and beta.polygons.shape == (20, 8)


def test_missing_data_set_and_bad_lines_raise_clear_errors(workspace, tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark.root"):
        read_vot(tmp_path / "nowhere", "VOT2018")
    with pytest.raises(FileNotFoundError, match="VOT2018.json"):
        read_vot(tmp_path, "VOT2018")
    broken = tmp_path / "broken"
    shutil.copytree(workspace, broken)
    (broken / "sequences" / "beta" / "groundtruth.txt").write_text("1,2,3\n" * 20)
    with pytest.raises(ValueError, match=r"groundtruth.txt:1"):
        read_vot(broken, "VOT2018")


def test_reset_protocol_lines_resume_and_report(workspace, tmp_path, capsys):
    calls: list[str] = []
    benchmark = make_benchmark(workspace)
    result = benchmark.run(SequentialSlots(lambda: ScriptedTracker(calls)), tmp_path, "scripted")
    # one progress bar over all 75 frames, the frames skipped after failures included
    progress = capsys.readouterr().err
    assert "75/75" in progress and "3/3 sequences" in progress and "FPS" in progress

    alpha = read_trajectory(trajectory_path(tmp_path / "scripted", "alpha"))
    lines = (tmp_path / "scripted/baseline/alpha/alpha_001.txt").read_text().splitlines()
    # init 0; lost at 5 -> skip 6..9, init 10; lost at 11 -> skip 12..15, init 16; lost at 28.
    codes = {t: line for t, line in enumerate(lines) if "," not in line}
    assert codes == {
        0: "1",
        5: "2",
        **{t: "0" for t in range(6, 10)},
        10: "1",
        11: "2",
        **{t: "0" for t in range(12, 16)},
        16: "1",
        28: "2",
        29: "0",
    }
    assert len(lines) == 30 and count_failures(alpha.status) == 3
    original = json.loads(FIXTURE.read_text())["original_protocol_sha256"]
    for name, digest in original.items():
        data = trajectory_path(tmp_path / "scripted", name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    # The tracker never sees skipped frames and is re-initialised on the right ones.
    assert "update alpha 6" not in calls and "init alpha 10" in calls and "init alpha 16" in calls
    gamma = (tmp_path / "scripted/baseline/gamma/gamma_001.txt").read_text().splitlines()
    assert gamma[0] == "1" and gamma[24] == "2" and len(gamma) == 25

    metrics = result["metrics"]
    assert set(metrics) == {"Accuracy", "Robustness", "EAO", "FPS", "Failures"}
    assert metrics["Failures"] == 4
    assert metrics["Robustness"] == pytest.approx(100 * 4 / 75)
    assert metrics["FPS"] > 0
    # Report scores equal the metric functions applied to the written files.
    scores, runs = [], []
    for seq in benchmark.sequences():
        traj = read_trajectory(trajectory_path(tmp_path / "scripted", seq.name))
        overlaps = frame_overlaps(traj, seq.regions, seq.image_size)
        acc = sequence_accuracy(overlaps, traj.status, 10)
        scores.append(SequenceScore(seq.name, len(traj), acc, count_failures(traj.status)))
        runs.extend(eao_runs(overlaps, traj.status))
    assert metrics["Accuracy"] == pytest.approx(accuracy_robustness(scores)[0], abs=1e-12)
    assert metrics["EAO"] == pytest.approx(eao_score(eao_curve(runs), (5, 15)), abs=1e-12)
    toolkit = json.loads(FIXTURE.read_text())["scripted_run"]
    assert metrics["Accuracy"] == pytest.approx(toolkit["accuracy"], abs=1e-6)
    assert metrics["EAO"] == pytest.approx(toolkit["eao"], abs=1e-6)
    frames = sum(s["frames"] for s in toolkit["sequences"].values())
    failures = sum(s["failures"] for s in toolkit["sequences"].values())
    assert metrics["Robustness"] == pytest.approx(100 * failures / frames, abs=1e-9)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["metrics"] == metrics
    assert [r["Failures"] for r in on_disk["sequences"]] == [3, 0, 1]
    assert (tmp_path / "eao_plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "sequences.md").is_file()
    assert not list(tmp_path.rglob("*.tmp"))

    # Rerun: nothing is tracked again, same numbers.
    def no_tracker():
        raise AssertionError("a finished sequence was tracked again")

    assert benchmark.run(SequentialSlots(no_tracker), tmp_path, "scripted")["metrics"] == metrics
    # An interrupted run (one result missing) resumes with that sequence only.
    trajectory_path(tmp_path / "scripted", "beta").unlink()
    calls.clear()
    again = benchmark.run(SequentialSlots(lambda: ScriptedTracker(calls)), tmp_path, "scripted")
    assert {c.split()[1] for c in calls} == {"beta"}
    assert again["metrics"]["Accuracy"] == metrics["Accuracy"]


def test_truncated_result_file_is_reported(workspace, tmp_path):
    benchmark = make_benchmark(workspace)
    benchmark.run(SequentialSlots(lambda: ScriptedTracker([])), tmp_path, "scripted")
    path = trajectory_path(tmp_path / "scripted", "beta")
    path.write_text("\n".join(path.read_text().splitlines()[:5]) + "\n")
    with pytest.raises(ValueError, match="beta_001.txt has 5 lines for 20 frames.*delete it"):
        benchmark.run(SequentialSlots(lambda: ScriptedTracker([])), tmp_path, "scripted")


@pytest.mark.parametrize(("config", "interval"), [("vot2018", (100, 356)), ("vot2019", (46, 291))])
def test_benchmark_configs_instantiate(workspace, config, interval):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    repo = Path(__file__).resolve().parents[1]
    cfg = OmegaConf.load(repo / "conf" / "benchmark" / f"{config}.yaml")
    with pytest.raises(FileNotFoundError, match=r"has 3 sequences but .* has 60"):
        instantiate(cfg, root=str(workspace)).sequences()  # 3 of the data set's 60
    benchmark = instantiate(cfg, root=str(workspace), sequences=sorted(SCRIPT))
    assert isinstance(benchmark, VOTBenchmark)
    assert benchmark.name == config.upper() and benchmark.eao_interval == interval
    assert (benchmark.reinit_delay, benchmark.burnin) == (5, 10)
    assert [s.name for s in benchmark.sequences()] == sorted(SCRIPT)
