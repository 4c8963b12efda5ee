"""Video input / output for the demo: frame reader, annotated-video writer, box drawing.

Frames are BGR ``uint8`` ``[H, W, 3]`` arrays as OpenCV reads them; boxes are 0-based
``x, y, w, h``.

The annotated video is written in a format browsers and Jupyter play: H.264 in MP4 (``moov`` atom
first, so it streams) through PyAV when it is installed (``pip install av``, the optional
``siamfcpp[video]`` extra: OpenCV's wheels carry no H.264 encoder), else VP8 in WebM through
OpenCV. Only OpenCV builds without VP8 fall back to MPEG-4 Part 2 ``.mp4`` or MJPG ``.avi``, which
browsers do not play; :attr:`AnnotatedVideoWriter.codec` says which was written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# OpenCV (fourcc, container, browsers play it) in order of preference, after PyAV's H.264
OPENCV_CODECS = (("VP80", ".webm", True), ("mp4v", ".mp4", False), ("MJPG", ".avi", False))


def _source(video: str | int | os.PathLike) -> str | int | Path:
    """A webcam index (``0`` or ``"0"``), a stream URL (``scheme://...``) or a path."""
    if isinstance(video, int) or (isinstance(video, str) and video.isdigit()):
        return int(video)
    if isinstance(video, str) and "://" in video:
        return video
    return Path(video).expanduser()


class FrameReader:
    """Iterate over the frames of a video file, a webcam, a stream or an image folder.

    Args:
        path: a video file OpenCV can decode, a folder of images (sorted by file name), a webcam
            index (``0``) or a stream URL (``rtsp://...``, ``http://...``).
        start: index of the first frame to read (earlier frames are skipped).
        max_size: if set, frames whose longer side exceeds it are shrunk to it (:attr:`scale`).

    Attributes:
        num_frames: frames from ``start`` on (exact for a folder; the container's count for a
            video; 0 for webcams and streams, whose length is unknown).
        fps: frame rate of the video (``None`` for an image folder or when the source has none).
        frames_read: frames the last iteration decoded. A video that stops decoding before the
            container's count (a truncated or damaged file) is logged as a warning.
        scale: factor applied to every frame (1.0 unless ``max_size`` shrinks them).
    """

    def __init__(
        self, path: str | int | os.PathLike, start: int = 0, max_size: int | None = None
    ) -> None:
        self.path = _source(path)
        self.start = int(start)
        if self.start < 0:
            raise ValueError(f"start_frame={start}: must be >= 0")
        self.max_size = max_size
        self.fps: float | None = None
        self.images: list[Path] = []
        self.frames_read = 0
        self.declared = 0
        if isinstance(self.path, Path) and not self.path.exists():
            raise FileNotFoundError(f"video {self.path}: no such file or folder")
        if isinstance(self.path, Path) and self.path.is_dir():
            self.images = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self.images:
                raise ValueError(
                    f"image folder {self.path} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                )
            self.declared = len(self.images)
            first = cv2.imread(str(self.images[min(self.start, len(self.images) - 1)]))
            size = (0, 0) if first is None else (first.shape[1], first.shape[0])
        else:
            capture = self._open_capture()
            fps = capture.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps > 0 else None
            self.declared = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
            size = (
                int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            )
            capture.release()
        if self.declared and self.start >= self.declared:
            raise ValueError(f"start_frame={self.start} but {self.path} has {self.declared} frames")
        self.num_frames = max(0, self.declared - self.start)
        longer = max(size)
        self.scale = max_size / longer if max_size and longer > max_size else 1.0

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        self.frames_read = 0
        for frame in self._decode():
            self.frames_read += 1
            if self.scale != 1.0:
                size = (round(frame.shape[1] * self.scale), round(frame.shape[0] * self.scale))
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            yield frame
        if self.frames_read == 0:
            raise ValueError(f"video {self.path}: no frame could be decoded")
        if self.num_frames and self.frames_read < self.num_frames:
            log.warning(
                "%s: decoded %d of the %d frames the container declares (from frame %d): the "
                "file is truncated or damaged; results cover frames %d-%d",
                self.path,
                self.frames_read,
                self.num_frames,
                self.start,
                self.start,
                self.start + self.frames_read - 1,
            )

    def _decode(self) -> Iterator[np.ndarray]:
        if self.images:
            for image in self.images[self.start :]:
                frame = cv2.imread(str(image), cv2.IMREAD_COLOR)
                if frame is None:
                    raise ValueError(f"cannot read image {image} (corrupt or not an image)")
                yield frame
            return
        capture = self._open_capture()
        try:
            if self.start:
                capture.set(cv2.CAP_PROP_POS_FRAMES, self.start)
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield frame
        finally:
            capture.release()

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.path if isinstance(self.path, int) else str(self.path))
        if not capture.isOpened():
            if isinstance(self.path, int):
                raise ValueError(f"cannot open webcam {self.path} (video={self.path})")
            raise ValueError(
                f"cannot open video {self.path}: missing, not a video OpenCV can decode, or "
                "truncated (an MP4 cut short loses its index); pass a video file, a folder of "
                "images, a webcam index or a stream URL"
            )
        return capture


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """FFmpeg inside OpenCV prints to file descriptor 2 directly (e.g. a harmless "tag not
    supported" line for every WebM writer); point it at /dev/null meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _PyAVH264:
    """H.264 (yuv420p, even frame sides) in MP4 with the index first, through PyAV."""

    codec = "H.264 (PyAV)"
    suffix = ".mp4"

    def __init__(self, path: Path, fps: float, frame_size: tuple[int, int]) -> None:
        import av

        width, height = frame_size
        self.pad = (width % 2, height % 2)  # yuv420p needs even sides: pad one pixel
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            rate = Fraction(fps).limit_denominator(1001)
            self.stream = self.container.add_stream(
                "libx264", rate=rate, options={"crf": "23", "preset": "veryfast"}
            )
            self.stream.width, self.stream.height = width + self.pad[0], height + self.pad[1]
            self.stream.pix_fmt = "yuv420p"  # what browsers decode
        except Exception:
            self.container.close()
            raise
        self.av = av

    def write(self, frame: np.ndarray) -> None:
        if any(self.pad):
            frame = cv2.copyMakeBorder(frame, 0, self.pad[1], 0, self.pad[0], cv2.BORDER_REPLICATE)
        video_frame = self.av.VideoFrame.from_ndarray(frame, format="bgr24")
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():  # flush the encoder
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        self.container.close()


class _OpenCVWriter:
    def __init__(
        self, path: Path, fps: float, frame_size: tuple[int, int], fourcc: str, playable: bool
    ) -> None:
        self.codec = f"{fourcc} (OpenCV)"
        self.browser_playable = playable
        self.frame_size = frame_size
        with _quiet_stderr():
            self.writer = cv2.VideoWriter(
                str(path), cv2.VideoWriter_fourcc(*fourcc), fps, frame_size
            )
        if not self.writer.isOpened():
            self.writer.release()
            raise RuntimeError(f"OpenCV cannot encode {fourcc} into {path.suffix} here")

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.release()

    abort = close


class AnnotatedVideoWriter:
    """Write frames to ``<stem>.mp4`` (H.264, PyAV) or ``<stem>.webm`` (VP8, OpenCV); see the
    module docstring for the fallbacks.

    The file is written under a temporary name and moved into place by :meth:`close`, so an
    interrupted run leaves no truncated video behind.

    Attributes:
        path: the video file (once closed).
        codec: what was written, e.g. ``H.264 (PyAV)`` or ``VP80 (OpenCV)``.
        browser_playable: whether browsers and Jupyter play it.
    """

    def __init__(self, stem: str | os.PathLike, fps: float, frame_size: tuple[int, int]) -> None:
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        self.frame_size = tuple(frame_size)
        tried = []
        for make, suffix in self._candidates(fps, frame_size):
            self.path = stem.with_suffix(suffix)
            # the container is chosen from the suffix, so the temporary name keeps it
            self.tmp_path = self.path.with_name(f".{stem.name}.tmp{suffix}")
            try:
                self.backend = make(self.tmp_path)
            except Exception as err:  # noqa: BLE001 (any encoder failure: try the next one)
                tried.append(str(err).splitlines()[0] if str(err) else type(err).__name__)
                self.tmp_path.unlink(missing_ok=True)
                continue
            self.codec = self.backend.codec
            self.browser_playable = getattr(self.backend, "browser_playable", True)
            return
        raise RuntimeError(f"no video encoder works here for {stem}: {'; '.join(tried)}")

    @staticmethod
    def _candidates(fps: float, frame_size: tuple[int, int]):
        try:
            import av  # noqa: F401  (optional: pip install av)
        except ImportError:
            log.info("PyAV is not installed (pip install av): no H.264, writing WebM (VP8)")
        else:
            yield (lambda path: _PyAVH264(path, fps, frame_size)), _PyAVH264.suffix
        for fourcc, suffix, playable in OPENCV_CODECS:
            yield (
                (lambda path, c=fourcc, p=playable: _OpenCVWriter(path, fps, frame_size, c, p)),
                suffix,
            )

    def write(self, frame: np.ndarray) -> None:
        """Append a BGR uint8 frame of the writer's size (OpenCV would silently drop others)."""
        if (frame.shape[1], frame.shape[0]) != self.frame_size:
            # OpenCV would drop such a frame with a warning and leave an unreadable file
            raise ValueError(
                f"{self.path}: frame is {frame.shape[1]}x{frame.shape[0]} but the video is "
                f"{self.frame_size[0]}x{self.frame_size[1]}"
            )
        self.backend.write(frame)

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        self.backend.close()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        self.backend.abort()
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
