"""The bad-input matrix: every case is a clear error naming the file (or key) and the fix, or a
documented, counted recovery. Each case goes through the code path a user hits: the GOT-10k,
one-pass (LaSOT) and VOT readers, the training sources, ``read_frame``, ``load_checkpoint``,
``evaluate.py`` / Hydra composition, and the trackers.

| case                                   | outcome                                              |
|----------------------------------------|------------------------------------------------------|
| missing frame (gap, or file gone)      | error: ``frame <path> is missing ... re-extract``      |
| zero-byte / corrupt JPEG               | error: ``frame <path> is corrupt or not an image``     |
| grayscale / 16-bit frame               | recovery: 3 equal channels / high byte (as          |
|                                        | ``cv2.imread(IMREAD_COLOR)``), counted + logged       |
| NaN / non-positive gt, first line      | error: ``<gt file>:1: ... fix the annotation``         |
| NaN / non-positive gt, scored frame    | GOT-10k val: error ``<gt file>:<line>``; one-pass:    |
|                                        | recovery, frame not scored, ``unscored_frames``       |
| NaN gt in a training sequence          | recovery: frame made invisible (never sampled),       |
|                                        | ``invalid_boxes``, logged once per sequence            |
| initial box outside the image          | error naming the frame file                           |
| fewer gt lines than frames             | error naming the gt file / folder                     |
| empty sequence / empty list.txt        | error naming the folder / list file                   |
| unknown benchmark / config key         | Hydra error listing the options / ``+key=`` hint      |
| checkpoint of the other backbone       | error: ``pass backbone=<other>``                       |
| truncated checkpoint / md5 mismatch    | error: ``truncated ... download or copy it again``     |
| unwritable output folder               | error: ``cannot write <path>: <why>; ... choose``    |
| 1x1 box / box at the image corner      | tracked, finite boxes (all three trackers)            |
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import instantiate

from siamfcpp.data.sources.base import load_frame
from siamfcpp.data.sources.got10k import GOT10kSource, write_got10k_list, write_got10k_sequence
from siamfcpp.evaluation.datasets.got10k import GOT10kBenchmark
from siamfcpp.evaluation.datasets.lasot import LaSOTBenchmark
from siamfcpp.evaluation.datasets.vot_layout import read_vot
from siamfcpp.io import frames as frame_io
from siamfcpp.io.frames import CorruptFrameError, read_frame
from siamfcpp.model.checkpoints import CheckpointError, file_md5, load_checkpoint
from siamfcpp.tracking.engine import SequentialSlots, build_engine
from tests.cli import run_script
from tests.conftest import compose_config

REPO = Path(__file__).resolve().parents[1]
T = 5  # frames per test sequence
W, H = 64, 48


def compose_cfg(config: str, *overrides: str):
    return compose_config(config, *overrides)


class StillTracker:
    """Returns the initial box on every frame (no network needed)."""

    def init(self, frame, box):
        self.box = np.asarray(box, dtype=np.float64)

    def update(self, frame):
        return self.box


STILL = SequentialSlots(StillTracker)  # an engine of the still tracker


def frames(n: int = T, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def gt_boxes(n: int = T) -> np.ndarray:
    return np.tile([10.0, 8.0, 20.0, 16.0], (n, 1))


def got10k_root(tmp_path: Path, subset: str = "val", gt: np.ndarray | None = None) -> Path:
    """A one-sequence GOT-10k split ``<root>/<subset>/seq`` with valid data."""
    root = tmp_path / "GOT-10k"
    write_got10k_sequence(
        root / subset / "seq", frames(), gt_boxes() if gt is None else gt, full_gt=True
    )
    write_got10k_list(root / subset, ["seq"])
    return root


def run_got10k(root: Path, tmp_path: Path) -> dict:
    return GOT10kBenchmark(root, "val", sequences=["seq"]).run(STILL, tmp_path / "out", "still")


# ------------------------------------------------------------------ frames


def test_missing_frame_gap_is_an_error_naming_it(tmp_path):
    root = got10k_root(tmp_path)
    (root / "val" / "seq" / "00000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"seq/00000003\.jpg is missing.*re-extract"):
        run_got10k(root, tmp_path)


def test_missing_last_frame_is_caught_by_the_line_count(tmp_path):
    root = got10k_root(tmp_path)
    (root / "val" / "seq" / f"{T:08d}.jpg").unlink()
    gt_file = root / "val" / "seq" / "groundtruth.txt"
    with pytest.raises(ValueError, match=f"{gt_file} has {T} lines for {T - 1} frames"):
        run_got10k(root, tmp_path)


def test_missing_frame_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.jpg is missing.*benchmark\.root"):
        read_frame(tmp_path / "nothing.jpg")


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0 truncated jpeg"], ids=["0B", "bad"])
def test_zero_byte_or_corrupt_jpeg_is_an_error_naming_it(tmp_path, content):
    root = got10k_root(tmp_path)
    bad = root / "val" / "seq" / "00000002.jpg"
    bad.write_bytes(content)
    with pytest.raises(CorruptFrameError, match=f"{bad} is corrupt.*{len(content)} bytes"):
        run_got10k(root, tmp_path)
    # the training sources read frames the same way
    with pytest.raises(ValueError, match="corrupt or not an image.*re-extract"):
        load_frame(bad)


def test_colour_jpeg_reads_as_cv2_imread(tmp_path):
    path = tmp_path / "c.jpg"
    cv2.imwrite(str(path), frames(1)[0])
    before = sum(frame_io.frame_conversions.values())
    np.testing.assert_array_equal(read_frame(path), cv2.imread(str(path), cv2.IMREAD_COLOR))
    assert sum(frame_io.frame_conversions.values()) == before  # nothing to recover


@pytest.mark.parametrize(
    ("name", "image", "kinds"),
    [
        ("gray.jpg", frames(1)[0][..., 0], {"grayscale"}),
        ("gray16.png", frames(1)[0][..., 0].astype(np.uint16) * 257 + 3, {"grayscale", "16-bit"}),
        ("colour16.png", frames(1)[0].astype(np.uint16) * 250, {"16-bit"}),
    ],
)
def test_grayscale_and_16bit_frames_are_converted_and_counted(tmp_path, caplog, name, image, kinds):
    path = tmp_path / name
    assert cv2.imwrite(str(path), image)
    before = frame_io.frame_conversions.copy()
    frame = read_frame(path)
    assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
    # the pixels OpenCV's IMREAD_COLOR gives: gray replicated, 16-bit values / 256
    np.testing.assert_array_equal(frame, cv2.imread(str(path), cv2.IMREAD_COLOR))
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # the decoded file (JPEG is lossy)
    expected = stored >> 8 if stored.dtype == np.uint16 else stored
    channel = frame[..., 0] if image.ndim == 2 else frame
    np.testing.assert_array_equal(channel, expected)
    counted = frame_io.frame_conversions - before
    assert set(counted) == kinds and all(v == 1 for v in counted.values())
    assert all(f"{kind} frames in {tmp_path}" in caplog.text for kind in kinds)
    np.testing.assert_array_equal(load_frame(path), frame)  # training reads the same


def test_grayscale_sequence_is_evaluated_and_the_conversions_reported(tmp_path):
    root = tmp_path / "GOT-10k"
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames()]
    write_got10k_sequence(root / "val" / "seq", frames(), gt_boxes(), full_gt=True)
    for t, image in enumerate(gray, start=1):
        cv2.imwrite(str(root / "val" / "seq" / f"{t:08d}.jpg"), image)
    write_got10k_list(root / "val", ["seq"])
    result = run_got10k(root, tmp_path)
    assert result["frame_conversions"] == {"grayscale": T}
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["frame_conversions"]


# ------------------------------------------------------------------ ground truth


@pytest.mark.parametrize("row", [[np.nan] * 4, [10, 8, -20, 16], [10, 8, 20, 0]])
def test_invalid_first_box_is_an_error_naming_the_line(tmp_path, row):
    gt = gt_boxes()
    gt[0] = row
    root = got10k_root(tmp_path, gt=gt)
    gt_file = root / "val" / "seq" / "groundtruth.txt"
    with pytest.raises(ValueError, match=f"{gt_file}:1: .*fix or re-download"):
        run_got10k(root, tmp_path)


def test_got10k_val_nan_on_a_scored_frame_is_an_error(tmp_path):
    gt = gt_boxes()
    gt[2] = np.nan
    root = got10k_root(tmp_path, gt=gt)
    with pytest.raises(ValueError, match=r"groundtruth\.txt:3: box \[nan"):
        run_got10k(root, tmp_path)
    # a frame the cover label marks invisible is not scored: its box may be missing
    (root / "val" / "seq" / "cover.label").write_text("8\n8\n0\n8\n8\n")
    result = run_got10k(root, tmp_path)
    assert np.isfinite(result["metrics"]["AO"])


def lasot_root(tmp_path: Path, gt: np.ndarray, n_frames: int = T) -> Path:
    root = tmp_path / "LaSOT"
    seq_dir = root / "cat" / "cat-1"
    (seq_dir / "img").mkdir(parents=True)
    for t, frame in enumerate(frames(n_frames), start=1):
        cv2.imwrite(str(seq_dir / "img" / f"{t:08d}.jpg"), frame)
    np.savetxt(seq_dir / "groundtruth.txt", gt, fmt="%.2f", delimiter=",")
    return root


def test_one_pass_invalid_later_boxes_are_unscored_and_counted(tmp_path):
    gt = gt_boxes()
    gt[2] = np.nan
    gt[3] = [0, 0, 0, 0]  # LaSOT marks absent targets so
    root = lasot_root(tmp_path, gt)
    result = LaSOTBenchmark(root, "all", sequences=["cat-1"]).run(STILL, tmp_path / "out", "still")
    assert result["unscored_frames"] == 2
    # the still tracker is exact on the 3 valid frames: every metric sees only those (IoU 1
    # passes every success threshold but the last, "> 1")
    assert result["metrics"]["Success"] == pytest.approx(20 / 21)
    assert result["metrics"]["Precision"] == 1.0


def test_one_pass_invalid_first_box_is_an_error(tmp_path):
    gt = gt_boxes()
    gt[0] = np.nan
    root = lasot_root(tmp_path, gt)
    gt_file = root / "cat" / "cat-1" / "groundtruth.txt"
    with pytest.raises(ValueError, match=f"{gt_file}:1: the initial box .*fix the annotation"):
        LaSOTBenchmark(root, "all", sequences=["cat-1"]).sequences()


@pytest.mark.parametrize(
    ("tracker", "batch_sequences"), [("siamfcpp", 1), ("siamfcpp_fast", 1), ("siamfcpp", 2)]
)
def test_initial_box_outside_the_image_is_an_error_naming_the_frame(
    tmp_path, tracker, batch_sequences
):
    gt = gt_boxes()
    gt[0] = [W + 5, 8, 20, 16]
    root = got10k_root(tmp_path, gt=gt)
    cfg = compose_cfg("evaluate", f"tracker={tracker}")
    engine = build_engine(cfg.tracker, model(), torch.device("cpu"), batch_sequences)
    with pytest.raises(ValueError, match=r"00000001\.jpg: initial box .* lies outside the 64x48"):
        GOT10kBenchmark(root, "val", sequences=["seq"]).run(engine, tmp_path / "out", tracker)


def test_lasot_frame_numbering_gap_is_an_error_naming_the_frame(tmp_path):
    """Frame 3 missing and one frame more at the end: as many frames as boxes, but every box
    after the gap would be scored against the next frame."""
    root = lasot_root(tmp_path, gt_boxes())
    img = root / "cat" / "cat-1" / "img"
    (img / "00000003.jpg").rename(img / f"{T + 1:08d}.jpg")
    with pytest.raises(FileNotFoundError, match=r"cat-1/img/00000003\.jpg is missing"):
        LaSOTBenchmark(root, "all", sequences=["cat-1"]).sequences()


def test_lasot_sequence_in_two_class_folders_is_an_error(tmp_path):
    root = lasot_root(tmp_path, gt_boxes())
    shutil.copytree(root / "cat" / "cat-1", root / "dog" / "cat-1")
    with pytest.raises(ValueError, match=r"sequence cat-1 appears twice .*cat/cat-1/img and"):
        LaSOTBenchmark(root, "all", sequences=["cat-1"]).sequences()


def test_fewer_gt_lines_than_frames(tmp_path):
    root = got10k_root(tmp_path)
    gt_file = root / "val" / "seq" / "groundtruth.txt"
    gt_file.write_text("".join(gt_file.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(ValueError, match=f"{gt_file} has 3 lines for {T} frames.*incomplete"):
        run_got10k(root, tmp_path)
    with pytest.raises(ValueError, match=f"cat-1/groundtruth.txt: 3 boxes for {T} frames"):
        LaSOTBenchmark(lasot_root(tmp_path, gt_boxes(3)), "all", sequences=["cat-1"]).sequences()


def vot_root(tmp_path: Path, gt_lines: list[str]) -> Path:
    root = tmp_path / "VOT"
    shutil.rmtree(root, ignore_errors=True)
    seq_dir = root / "sequences" / "ball"
    (seq_dir / "color").mkdir(parents=True)
    for t, frame in enumerate(frames(), start=1):
        cv2.imwrite(str(seq_dir / "color" / f"{t:08d}.jpg"), frame)
    (seq_dir / "groundtruth.txt").write_text("".join(line + "\n" for line in gt_lines))
    (root / "sequences" / "list.txt").write_text("ball\n")
    return root


def test_vot_reader_bad_ground_truth(tmp_path):
    good = "10,8,20,16"
    gt_file = tmp_path / "VOT" / "sequences" / "ball" / "groundtruth.txt"
    with pytest.raises(ValueError, match=f"{gt_file}:2: a VOT region is .* finite numbers"):
        read_vot(vot_root(tmp_path, [good, "nan,nan,nan,nan"] + [good] * 3), "VOT2018")
    with pytest.raises(ValueError, match=f"{T} frames but 3 ground-truth regions.*incomplete"):
        read_vot(vot_root(tmp_path, [good] * 3), "VOT2018")
    with pytest.raises(ValueError, match=f"ground truth {gt_file} is empty"):
        read_vot(vot_root(tmp_path, []), "VOT2018")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{W + 5},8,20,16", r"groundtruth\.txt:1: region .* lies outside the 64x48 image"),
        ("-40,-30,20,16", r"groundtruth\.txt:1: region .* lies outside the 64x48 image"),
        ("10,8,0,16", r"groundtruth\.txt:1: region '10,8,0,16' has no area"),
        ("10,8,20,8,30,8,40,8", r"groundtruth\.txt:1: region .* has no area"),
    ],
    ids=["right-of-image", "above-left", "zero-width", "flat-polygon"],
)
def test_vot_region_outside_the_image_or_without_area_names_file_and_line(tmp_path, line, message):
    good = "10,8,20,16"
    with pytest.raises(ValueError, match=message):
        read_vot(vot_root(tmp_path, [line] + [good] * (T - 1)), "VOT2018")


def test_vot_one_pixel_region_is_tracked(tmp_path):
    (ball,) = read_vot(vot_root(tmp_path, ["30,20,1,1"] + ["10,8,20,16"] * (T - 1)), "VOT2018")
    np.testing.assert_allclose(ball.gt[0], [29.5, 19.5, 1.0, 1.0])
    cfg = compose_cfg("evaluate")
    tracker = instantiate(cfg.tracker, model=model(), device="cpu")
    tracker.init(frames(1)[0], ball.gt[0])
    assert np.isfinite(tracker.update(frames(2)[1])).all()


@pytest.mark.parametrize(
    ("sequence_file", "message"),
    [
        ("channels.color=color/%s-%s.jpg\n", r"sequence: channels\.color=.* not a frame-number"),
        ("width=abc\nheight=48\n", r"sequence: width='abc' height='48' is not a positive"),
        ("width=64\n", r"sequence: width='64' height=None is not a positive"),
    ],
    ids=["pattern", "width", "no-height"],
)
def test_vot_bad_sequence_file_names_it(tmp_path, sequence_file, message):
    root = vot_root(tmp_path, ["10,8,20,16"] * T)
    (root / "sequences" / "ball" / "sequence").write_text(sequence_file)
    with pytest.raises(ValueError, match=message):
        read_vot(root, "VOT2018")


@pytest.mark.parametrize("missing", ["width", "gt_rect"])
def test_vot_pysot_json_without_a_key_names_file_and_sequence(tmp_path, missing):
    root = vot_root(tmp_path, ["10,8,20,16"] * T)
    entry = {
        "video_dir": "sequences/ball",
        "img_names": [f"sequences/ball/color/{t:08d}.jpg" for t in range(1, T + 1)],
        "gt_rect": [[10, 8, 20, 16]] * T,
        "width": W,
        "height": H,
    }
    del entry[missing]
    (root / "sequences" / "list.txt").unlink()
    (root / "VOT2018.json").write_text(json.dumps({"ball": entry}))
    with pytest.raises(ValueError, match=rf"VOT2018\.json: sequence ball has no \['{missing}'\]"):
        read_vot(root, "VOT2018")


def test_vot_sequence_listed_twice_is_an_error(tmp_path):
    root = vot_root(tmp_path, ["10,8,20,16"] * T)
    (root / "sequences" / "list.txt").write_text("ball\nball\n")
    vot = instantiate(compose_cfg("evaluate", "benchmark=vot2018").benchmark, root=str(root))
    with pytest.raises(ValueError, match="sequence ball appears twice"):
        vot.sequences()


def test_empty_sequence_and_empty_split(tmp_path):
    root = got10k_root(tmp_path)
    for jpg in (root / "val" / "seq").glob("*.jpg"):
        jpg.unlink()
    with pytest.raises(FileNotFoundError, match=r"no \.jpg frames in .*seq: the sequence is empty"):
        run_got10k(root, tmp_path)
    write_got10k_list(root / "val", [])
    with pytest.raises(ValueError, match=r"list\.txt lists no sequences"):
        run_got10k(root, tmp_path)


def test_training_sequence_with_nan_boxes_never_yields_them(tmp_path, caplog):
    gt = gt_boxes()
    gt[1] = np.nan
    gt[3, 2] = 0
    root = tmp_path / "GOT-10k"
    write_got10k_sequence(root / "train" / "seq", frames(), gt, full_gt=True)
    write_got10k_list(root / "train", ["seq"])
    seq = GOT10kSource(root, "train")[0]
    assert seq.visible.tolist() == [True, False, True, False, True]
    assert seq.invalid_boxes == 2
    assert "seq: 2 frame(s) marked visible have a NaN or non-positive box" in caplog.text


# ------------------------------------------------------------------ configuration


def test_unknown_benchmark_name_lists_the_options(tmp_path):
    proc = run_script("evaluate.py", "benchmark=votx", cwd=tmp_path, timeout=300, fails=True)
    assert "Could not find 'benchmark/votx'" in proc.stderr
    assert "Available options in 'benchmark'" in proc.stderr and "vot2018" in proc.stderr


def test_unknown_config_key_names_it_and_the_append_syntax():
    with pytest.raises(ConfigCompositionException, match=r"(?s)'trackr\.test_lr'.*\+trackr"):
        compose_cfg("evaluate", "trackr.test_lr=0.5")
    with pytest.raises(MissingConfigException, match="tracker/fastest"):
        compose_cfg("evaluate", "tracker=fastest")


# ------------------------------------------------------------------ checkpoints


def model(backbone: str = "alexnet") -> torch.nn.Module:
    torch.manual_seed(0)
    return instantiate(compose_cfg("evaluate", f"backbone={backbone}").model)


def test_checkpoint_of_the_other_backbone(tmp_path):
    path = tmp_path / "googlenet.ckpt"
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in model("googlenet").state_dict().items()}}, path
    )
    with pytest.raises(
        CheckpointError, match=f"{path}: .*holds a googlenet .*pass backbone=googlenet"
    ):
        load_checkpoint(model("alexnet"), path)


def test_truncated_checkpoint_and_md5_mismatch(tmp_path):
    net = model()
    whole = tmp_path / "whole.pkl"
    torch.save(net.state_dict(), whole)
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=f"{truncated}: not a readable .*truncated"):
        load_checkpoint(net, truncated)
    wrong = tmp_path / f"siamfcpp-md5_{'0' * 32}.pkl"
    wrong.write_bytes(whole.read_bytes())
    with pytest.raises(CheckpointError, match=f"md5 is {file_md5(whole)} .*download it again"):
        load_checkpoint(net, wrong)
    right = tmp_path / f"siamfcpp-md5_{file_md5(whole)}.pkl"
    right.write_bytes(whole.read_bytes())
    load_checkpoint(net, right)


# ------------------------------------------------------------------ output folder


def unusable_folder(tmp_path: Path) -> Path:
    """A results folder that cannot be written: read-only, or (as root, where permissions do
    not stop writes) a file standing where the folder should be."""
    out = tmp_path / "out"
    if os.geteuid() != 0:
        out.mkdir()
        out.chmod(0o500)
        return out
    out.write_text("a file, not a folder\n")
    return out


def test_unwritable_output_folder_names_it_and_the_fix(tmp_path):
    root = got10k_root(tmp_path)
    out = unusable_folder(tmp_path)
    try:
        with pytest.raises(OSError, match=f"cannot write {out}.*choose another output_dir"):
            GOT10kBenchmark(root, "val", sequences=["seq"]).run(STILL, out, "still")
    finally:
        if out.is_dir():
            out.chmod(0o700)


# ------------------------------------------------------------------ degenerate target boxes


@pytest.mark.parametrize("tracker", ["siamfcpp", "siamfcpp_fast", "multi_temp", "multi_temp_fast"])
@pytest.mark.parametrize(
    "box",
    [[30, 20, 1, 1], [0, 0, 1, 1], [0, 0, 12, 10], [W - 1, H - 1, 1, 1], [W - 6, H - 4, 20, 16]],
    ids=["1x1", "1x1-corner", "top-left", "1x1-bottom-right", "past-bottom-right"],
)
def test_tiny_and_corner_boxes_track_without_nan(tracker, box):
    cfg = compose_cfg("evaluate", f"tracker={tracker}")
    engine = build_engine(cfg.tracker, model(), torch.device("cpu"), 1)
    clip = frames(4)
    engine.init([0], clip[:1], np.array([box], dtype=np.float64))
    for frame in clip[1:]:
        (out,) = engine.update([0], [frame])
        assert np.isfinite(out).all(), out
        assert out[2] > 0 and out[3] > 0
