"""GOT-10k training sequences, read from the official layout.

``<root>/<subset>/list.txt`` names the sequences; each ``<root>/<subset>/<name>/`` holds frames
``00000001.jpg ...``, ``groundtruth.txt`` (one ``x,y,w,h`` line per frame) and ``absence.label``
(one 0/1 line per frame, 1 where the object is out of view). Absent frames are marked invisible.
``cut_by_image.label`` only marks truncation by the image border (the object is still visible),
so it does not change visibility.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from siamfcpp.data.sources.base import (
    TrackSequence,
    TrackSource,
    load_flags,
    load_table,
    require_dir,
    require_file,
    sorted_images,
)
from siamfcpp.io.files import atomic_write_text, format_boxes

GOT10K_SPLITS = ("train", "val", "test")
_TRAINING_SUBSETS = ("train", "val")


class GOT10kSource(TrackSource):
    """GOT-10k ``train`` or ``val`` (the test split has no per-frame annotation)."""

    def __init__(self, root: str | Path, subset: str) -> None:
        if subset not in _TRAINING_SUBSETS:
            raise ValueError(f"GOT-10k subset must be one of {_TRAINING_SUBSETS}, got {subset!r}")
        self.subset_dir = require_dir(Path(root) / subset, f"GOT-10k {subset} split")

    @cached_property
    def names(self) -> list[str]:
        list_file = require_file(self.subset_dir / "list.txt", "GOT-10k sequence list")
        return [line.strip() for line in list_file.read_text().splitlines() if line.strip()]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> TrackSequence:
        name = self.names[index]
        seq_dir = self.subset_dir / name
        frames = sorted_images(seq_dir, ".jpg")
        boxes = load_table(seq_dir / "groundtruth.txt", "GOT-10k groundtruth")
        absent = load_flags(seq_dir / "absence.label", "GOT-10k absence label")
        if not len(frames) == len(boxes) == len(absent):
            raise ValueError(
                f"GOT-10k sequence {seq_dir}: {len(frames)} frames, {len(boxes)} groundtruth "
                f"lines, {len(absent)} absence labels; they must agree"
            )
        return TrackSequence(name=name, frames=frames, boxes=boxes, visible=~absent)


def write_got10k_sequence(
    seq_dir: Path,
    frames: Sequence[np.ndarray | bytes],
    gt_xywh: np.ndarray,
    *,
    full_gt: bool,
    jpeg_quality: int = 95,
) -> None:
    """Write one sequence in the GOT-10k layout.

    Args:
        seq_dir: the sequence folder ``<root>/<split>/<name>`` (created).
        frames: BGR uint8 ``H x W x 3`` arrays (JPEG-encoded at ``jpeg_quality``) or ready JPEG
            data (``bytes`` or 1-D uint8 arrays), written byte for byte (fixtures whose decoded
            pixels must not change).
        gt_xywh: ``[T, 4]`` 0-based ``x, y, w, h``.
        full_gt: True for train/val (every gt line plus ``meta_info.ini`` and the ``cover``,
            ``absence``, ``cut_by_image`` labels the toolkit's val report reads); False for the
            test split, which only publishes the first line.
    """
    seq_dir = Path(seq_dir)
    seq_dir.mkdir(parents=True, exist_ok=True)
    gt_xywh = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    if len(gt_xywh) != len(frames):
        raise ValueError(f"{seq_dir}: {len(frames)} frames but {len(gt_xywh)} gt boxes")
    height = width = None
    for t, frame in enumerate(frames):
        if isinstance(frame, bytes | bytearray) or np.asarray(frame).ndim == 1:
            data = bytes(frame) if isinstance(frame, bytes | bytearray) else frame.tobytes()
            if height is None:
                decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if decoded is None:
                    raise ValueError(f"{seq_dir}: frame {t} is not a decodable image")
                height, width = decoded.shape[:2]
        else:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if not ok:
                raise ValueError(f"{seq_dir}: could not JPEG-encode frame {t}")
            data = buf.tobytes()
            height, width = frame.shape[:2]
        (seq_dir / f"{t + 1:08d}.jpg").write_bytes(data)
    lines = gt_xywh if full_gt else gt_xywh[:1]
    (seq_dir / "groundtruth.txt").write_text(format_boxes(lines, fmt="%.4f"))
    if full_gt:
        n = len(gt_xywh)
        # Synthetic and fixture targets are always fully visible and inside the image.
        (seq_dir / "cover.label").write_text("8\n" * n)
        (seq_dir / "absence.label").write_text("0\n" * n)
        (seq_dir / "cut_by_image.label").write_text("0\n" * n)
        (seq_dir / "meta_info.ini").write_text(
            f"[METAINFO]\nresolution: ({width}, {height})\nlength: {n}\n"
        )


def write_got10k_list(split_dir: Path, names: Sequence[str]) -> None:
    """Write ``<split_dir>/list.txt``, the sequence index the GOT-10k toolkit reads."""
    atomic_write_text(Path(split_dir) / "list.txt", "".join(f"{n}\n" for n in names))
