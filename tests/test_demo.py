"""demo.py: tracking through a video file / image folder, annotated video, boxes.txt, errors.

Inputs are synthetic sequences (``siamfcpp.data.sources.synthetic``) written as an MJPG ``.avi``
(encodable by every OpenCV build) or as a folder of JPEG frames; the network has seeded random
weights (the demo's output files are checked, not tracking accuracy).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamfcpp.apps.demo import demo, parse_box
from siamfcpp.data.sources.synthetic import generate_sequence
from siamfcpp.io.files import read_boxes
from siamfcpp.io.video import FrameReader
from tests.cli import run_script
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
NUM_FRAMES = 12
FRAME_SIZE = (160, 120)


@pytest.fixture(scope="module")
def sequence():
    return generate_sequence(7, NUM_FRAMES, FRAME_SIZE)


@pytest.fixture(scope="module")
def video_file(sequence, tmp_path_factory):
    frames, _ = sequence
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, FRAME_SIZE)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def image_folder(sequence, tmp_path_factory):
    frames, _ = sequence
    folder = tmp_path_factory.mktemp("frames")
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{t + 1:08d}.jpg"), frame)
    (folder / "notes.txt").write_text("not a frame")
    return folder


def _cfg(*overrides):
    return compose_config("demo", *overrides)


def _box_override(box):
    return "box=[" + ",".join(f"{v:.2f}" for v in box) + "]"


@pytest.mark.parametrize("source", ["video_file", "image_folder"])
def test_demo_writes_annotated_video_and_one_box_per_frame(source, sequence, request, tmp_path):
    _, gt = sequence
    path = request.getfixturevalue(source)
    result = demo(_cfg(f"video={path}", _box_override(gt[0]), f"output_dir={tmp_path}"))

    boxes = read_boxes(tmp_path / "boxes.txt")
    assert boxes.shape == (NUM_FRAMES, 4)
    np.testing.assert_allclose(boxes[0], np.round(gt[0], 2), atol=1e-3)
    np.testing.assert_allclose(boxes, result.boxes, atol=1e-3)
    assert np.all(boxes[:, 2:] > 0)
    assert result.video_path.parent == tmp_path and result.video_path.suffix == ".mp4"
    assert result.codec == "H.264 (PyAV)"  # PyAV is a dev dependency
    annotated = list(FrameReader(result.video_path))
    assert len(annotated) == NUM_FRAMES
    assert annotated[0].shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3)
    assert result.fps > 0
    assert (tmp_path / "config.yaml").is_file()
    assert not list(tmp_path.glob(".*tmp*"))


def test_demo_on_the_device_engine_tracks_like_the_reference(sequence, image_folder, tmp_path):
    """``tracker=siamfcpp_fast``: the single stream on the device engine (one slot; the whole
    step one CUDA graph with ``tracker.cuda_graph=true`` on a GPU) gives the reference's boxes up
    to the device crop's rounding (tests/test_device_engine.py)."""
    _, gt = sequence
    common = [f"video={image_folder}", _box_override(gt[0])]
    reference = demo(_cfg(*common, f"output_dir={tmp_path / 'ref'}"))
    fast = demo(_cfg(*common, "tracker=siamfcpp_fast", f"output_dir={tmp_path / 'fast'}"))
    deviation = np.abs(fast.boxes - reference.boxes).max(axis=1)
    assert fast.boxes.shape == (NUM_FRAMES, 4)
    assert deviation[:3].max() <= 0.05 and deviation.max() <= 0.5, deviation


def test_frame_reader_reads_folder_sorted_and_video_frames(sequence, video_file, image_folder):
    frames, _ = sequence
    from_folder = list(FrameReader(image_folder))
    assert len(FrameReader(image_folder)) == NUM_FRAMES
    # JPEG is lossy: compare loosely, but tight enough to catch a wrong order
    for got, expected in zip(from_folder, frames, strict=True):
        assert np.abs(got.astype(int) - expected).mean() < 8
    from_video = list(FrameReader(video_file))
    assert len(from_video) == NUM_FRAMES and FrameReader(video_file).fps == pytest.approx(25)


def test_cli_accepts_bare_box_and_writes_into_the_run_dir(sequence, image_folder, tmp_path):
    _, gt = sequence
    box = ",".join(f"{v:.1f}" for v in gt[0])
    run_script(
        "demo.py", f"video={image_folder}", f"box={box}", f"hydra.run.dir={tmp_path}", cwd=ROOT
    )
    assert len((tmp_path / "boxes.txt").read_text().splitlines()) == NUM_FRAMES
    assert list(tmp_path.glob("annotated.*"))


def _truncated(video_file: Path, folder: Path) -> Path:
    """A copy of ``video_file`` (MJPG .avi) cut to half its bytes: it still opens and declares
    all frames, but decoding stops early."""
    data = video_file.read_bytes()
    cut = folder / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_truncated_video_says_how_many_frames_were_read(video_file, tmp_path, caplog):
    cut = _truncated(video_file, tmp_path)
    reader = FrameReader(cut)
    assert len(reader) == NUM_FRAMES  # the container's count
    with caplog.at_level("WARNING", logger="siamfcpp.io.video"):
        frames = list(reader)
    assert 0 < reader.frames_read == len(frames) < NUM_FRAMES
    assert f"decoded {len(frames)} of the {NUM_FRAMES} frames" in caplog.text
    assert "truncated" in caplog.text


def test_browser_formats_h264_with_pyav_else_vp8_webm(
    sequence, image_folder, tmp_path, monkeypatch
):
    _, gt = sequence
    first = demo(_cfg(f"video={image_folder}", _box_override(gt[0]), f"output_dir={tmp_path}"))
    assert first.video_path.suffix == ".mp4" and first.codec == "H.264 (PyAV)"
    capture = cv2.VideoCapture(str(first.video_path))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    assert fourcc.lower() in ("avc1", "h264")
    # H.264 needs even frame sides; an odd-sized input is padded by one pixel
    odd = tmp_path / "odd"
    odd.mkdir()
    for image in sorted(image_folder.glob("*.jpg"))[:3]:
        cv2.imwrite(str(odd / image.name), cv2.imread(str(image))[:119, :159])
    padded = demo(_cfg(f"video={odd}", "box=[10,10,30,30]", f"output_dir={tmp_path / 'o'}"))
    assert len(list(FrameReader(padded.video_path))) == 3

    monkeypatch.setitem(sys.modules, "av", None)  # PyAV not installed
    second = demo(_cfg(f"video={odd}", "box=[10,10,30,30]", f"output_dir={tmp_path / 'b'}"))
    assert second.video_path.suffix == ".webm" and second.codec == "VP80 (OpenCV)"
    assert len(list(FrameReader(second.video_path))) == 3


def test_start_frame_and_max_size(sequence, video_file, tmp_path):
    _, gt = sequence
    start = 4
    result = demo(
        _cfg(
            f"video={video_file}",
            _box_override(gt[start]),
            f"start_frame={start}",
            "max_size=80",  # 160x120 -> 80x60
            f"output_dir={tmp_path}",
        )
    )
    boxes = read_boxes(tmp_path / "boxes.txt")
    assert boxes.shape == (NUM_FRAMES - start, 4)
    np.testing.assert_allclose(boxes[0], np.round(gt[start], 2), atol=1e-3)  # input pixels
    annotated = list(FrameReader(result.video_path))
    assert len(annotated) == NUM_FRAMES - start and annotated[0].shape == (60, 80, 3)
    with pytest.raises(ValueError, match="start_frame=99"):
        FrameReader(video_file, start=99)


def test_webcam_and_stream_sources(tmp_path):
    with pytest.raises(ValueError, match="cannot open webcam 7"):
        demo(_cfg("video=7", "box=[1,2,30,40]", f"output_dir={tmp_path}"))
    with pytest.raises(ValueError, match="rtsp://127.0.0.1:1/none"):
        FrameReader("rtsp://127.0.0.1:1/none")


def test_missing_video_is_named(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        demo(_cfg(f"video={missing}", "box=[1,2,30,40]", f"output_dir={tmp_path}"))


def test_unreadable_video_is_named(tmp_path):
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="bogus.mp4"):
        demo(_cfg(f"video={bogus}", "box=[1,2,30,40]", f"output_dir={tmp_path / 'out'}"))


def test_corrupt_image_in_folder_is_named(image_folder, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for image in sorted(image_folder.glob("*.jpg"))[:3]:
        (folder / image.name).write_bytes(image.read_bytes())
    (folder / "00000002.jpg").write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="00000002.jpg"):
        list(FrameReader(folder))


def test_no_box_without_display_asks_for_box(image_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("siamfcpp.io.video.has_display", lambda: False)
    with pytest.raises(RuntimeError, match=r"box=\[x,y,w,h\]"):
        demo(_cfg(f"video={image_folder}", f"output_dir={tmp_path}"))
    assert not list(tmp_path.glob("annotated*")) and not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("bad", ["1,2,3", "1,2,0,4", "a,b,c,d", [1, 2, float("nan"), 4]])
def test_parse_box_rejects_bad_boxes(bad):
    with pytest.raises(ValueError, match="box="):
        parse_box(bad)


def test_parse_box_accepts_string_and_list():
    np.testing.assert_array_equal(parse_box("1,2.5,3,4"), [1, 2.5, 3, 4])
    np.testing.assert_array_equal(parse_box([1, 2.5, 3, 4]), [1, 2.5, 3, 4])


def test_frames_changing_size_stop_the_demo_naming_the_frame(image_folder, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, image in enumerate(sorted(image_folder.glob("*.jpg"))[:6]):
        frame = cv2.imread(str(image))
        if t >= 3:  # the second half of the clip was exported at another size
            frame = cv2.resize(frame, (FRAME_SIZE[0] // 2, FRAME_SIZE[1] // 2))
        cv2.imwrite(str(folder / image.name), frame)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"frame 3 of .*frames: frame is 80x60 .* one size"):
        demo(_cfg(f"video={folder}", "box=[10,10,30,30]", f"output_dir={out}"))
    assert not (out / "boxes.txt").exists()
    assert not list(out.glob("annotated*")) and not list(out.glob(".*tmp*"))
