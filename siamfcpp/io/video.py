"""Video input / output for the demo: frame reader, annotated-video writer, box drawing.

Frames are BGR ``uint8`` ``[H, W, 3]`` arrays as OpenCV reads them; boxes are 0-based
``x, y, w, h``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# (fourcc, container) in order of preference; MJPG/.avi ships with every OpenCV build
VIDEO_CODECS = (("mp4v", ".mp4"), ("MJPG", ".avi"))


class FrameReader:
    """Iterate over the frames of a video file or of an image folder (sorted by file name).

    Args:
        path: a video file OpenCV can decode, or a folder of images.

    Attributes:
        num_frames: frame count (exact for a folder; the container's count for a video).
        fps: frame rate of the video (``None`` for an image folder).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise FileNotFoundError(f"video {self.path}: no such file or folder")
        self.fps: float | None = None
        if self.path.is_dir():
            self.images = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self.images:
                raise ValueError(
                    f"image folder {self.path} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                )
            self.num_frames = len(self.images)
        else:
            self.images = []
            capture = self._open_capture()
            fps = capture.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps > 0 else None
            self.num_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            capture.release()

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.images:
            for image in self.images:
                frame = cv2.imread(str(image), cv2.IMREAD_COLOR)
                if frame is None:
                    raise ValueError(f"cannot read image {image} (corrupt or not an image)")
                yield frame
            return
        capture = self._open_capture()
        try:
            count = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                count += 1
                yield frame
            if count == 0:
                raise ValueError(f"video {self.path}: no frame could be decoded")
        finally:
            capture.release()

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise ValueError(
                f"cannot open video {self.path}: not a video OpenCV can decode "
                "(pass a video file or a folder of images)"
            )
        return capture


class AnnotatedVideoWriter:
    """Write frames to ``<stem>.mp4`` (mp4v), or ``<stem>.avi`` (MJPG) if no mp4 encoder exists.

    The file is written under a temporary name and moved into place by :meth:`close`, so an
    interrupted run leaves no truncated video behind.
    """

    def __init__(self, stem: str | os.PathLike, fps: float, frame_size: tuple[int, int]) -> None:
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        self.frame_size = tuple(frame_size)
        for fourcc, suffix in VIDEO_CODECS:
            self.path = stem.with_suffix(suffix)
            # the container is chosen from the suffix, so the temporary name keeps it
            self.tmp_path = self.path.with_name(f".{stem.name}.tmp{suffix}")
            writer = cv2.VideoWriter(
                str(self.tmp_path), cv2.VideoWriter_fourcc(*fourcc), fps, frame_size
            )
            if writer.isOpened():
                self.writer = writer
                return
            writer.release()
            self.tmp_path.unlink(missing_ok=True)
        raise RuntimeError(
            f"OpenCV has no video encoder for {[c for c, _ in VIDEO_CODECS]} here; cannot write "
            f"{stem}.mp4/.avi"
        )

    def write(self, frame: np.ndarray) -> None:
        """Append a BGR uint8 frame of the writer's size (OpenCV would silently drop others)."""
        if (frame.shape[1], frame.shape[0]) != self.frame_size:
            raise ValueError(
                f"{self.path}: frame is {frame.shape[1]}x{frame.shape[0]} but the video is "
                f"{self.frame_size[0]}x{self.frame_size[1]}"
            )
        self.writer.write(frame)

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        self.writer.release()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        self.writer.release()
        self.tmp_path.unlink(missing_ok=True)


def draw_box(
    frame: np.ndarray,
    box_xywh: Sequence[float],
    text: str | None = None,
    color: tuple[int, int, int] = (0, 255, 0),
) -> np.ndarray:
    """Copy of ``frame`` with ``box_xywh`` drawn as a rectangle and ``text`` in the top-left."""
    out = frame.copy()
    x, y, w, h = (float(v) for v in box_xywh)
    thickness = max(1, round(min(frame.shape[:2]) / 240))
    cv2.rectangle(out, (round(x), round(y)), (round(x + w - 1), round(y + h - 1)), color, thickness)
    if text:
        scale = 0.5 * thickness
        origin = (5, 5 + round(20 * scale))
        # dark outline keeps the text readable on any background
        cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3 * thickness)
        cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness)
    return out


def has_display() -> bool:
    """Whether an OpenCV window can be opened: a GUI build of OpenCV and, on Linux, a display."""
    gui = [line for line in cv2.getBuildInformation().splitlines() if "GUI:" in line]
    if not gui or gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO"):
        return False  # opencv-python-headless
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def select_box(frame: np.ndarray, source: str) -> np.ndarray:
    """Let the user draw the target box on ``frame``; ``x, y, w, h`` float64."""
    hint = "pass the first-frame target box as box=[x,y,w,h] (0-based pixels)"
    if not has_display():
        raise RuntimeError(f"no box given for {source} and no display to select one: {hint}")
    try:
        x, y, w, h = cv2.selectROI(f"select the target in {source}", frame, showCrosshair=True)
        cv2.destroyAllWindows()
    except cv2.error as err:
        raise RuntimeError(f"interactive box selection failed ({err}): {hint}") from err
    if w <= 0 or h <= 0:
        raise RuntimeError(f"box selection cancelled (empty box): {hint}")
    return np.array([x, y, w, h], dtype=np.float64)
