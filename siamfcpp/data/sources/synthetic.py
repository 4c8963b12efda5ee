"""Procedural tracking sequences: the built-in data set for training and evaluation.

A sequence is a deterministic function of its seed (``numpy.random.default_rng``): a smooth,
textured background seen through a slowly panning camera, one textured rectangular target that
moves fast and irregularly (a few pixels per frame, crossing the frame within a few dozen frames)
and changes its scale and aspect ratio, and 1-3 textured distractors that move on their own paths
*behind* the target (so the target is always fully visible and its box is exact). About half the
distractors are look-alikes sharing the target's colour, told apart only by their pattern and
rim, so following the target takes appearance matching, not colour or a motion prior alone.

Geometry convention: pixel ``j`` covers the continuous interval ``[j, j + 1)``; a box ``x, y, w, h``
covers ``[x, x + w) x [y, y + h)``. The target is composited with per-pixel coverage
(separable box filter of the exact rectangle), so its rendered extent matches the sub-pixel gt box.
All boxes stay inside the frame.

Use :func:`make_sequence` for random access (training samples frame pairs without rendering the
whole sequence: ``seq.frame(t)``, ``seq.boxes[t]``), :func:`generate_sequence` for all frames at
once, and :func:`write_got10k_split` to store a set of sequences in the GOT-10k layout.
Rendering a 320x240 frame takes about a millisecond on one CPU core.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from siamfcpp.data.sources.got10k import GOT10K_SPLITS, write_got10k_list, write_got10k_sequence

SeedLike = int | Sequence[int]

# Version of the generated content: bump it whenever equal seeds start to give different
# sequences, so caches of generated data sets (the synthetic benchmark's) are not reused.
GENERATOR_VERSION = 2

_TEXTURE_SIZE = 64  # texture resolution of targets and distractors before warping


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Colour noise ``[height, width, 3]`` float32 in 0..1, smooth over ``cell`` pixels."""
    coarse = rng.random((height // cell + 2, width // cell + 2, 3), dtype=np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _texture(rng: np.random.Generator, like: np.ndarray | None = None) -> np.ndarray:
    """A target-like texture ``[64, 64, 3]`` float32 0..255: base colour, blobs, stripes, a rim.

    With ``like`` (another texture) the base colour is that texture's mean colour, slightly
    shifted: a look-alike that only its own pattern and rim tell apart.
    """
    size = _TEXTURE_SIZE
    if like is None:
        base = rng.uniform(30, 225, size=3).astype(np.float32)
    else:
        base = like.mean(axis=(0, 1)) + rng.uniform(-25, 25, size=3).astype(np.float32)
    blobs = _smooth_noise(rng, size, size, cell=int(rng.integers(6, 17))) - 0.5
    fine = _smooth_noise(rng, size, size, cell=2) - 0.5
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(6, 20)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period))
    tex = base + 110 * blobs + 40 * fine + rng.uniform(10, 40) * stripes[..., None]
    rim = rng.uniform(0, 255, size=3).astype(np.float32)
    tex[:3], tex[-3:], tex[:, :3], tex[:, -3:] = rim, rim, rim, rim
    return np.clip(tex, 0, 255)


def _smooth_signal(
    rng: np.random.Generator,
    num_frames: int,
    periods: tuple[float, float],
    num_waves: int = 3,
) -> np.ndarray:
    """A smooth random signal ``[num_frames]`` in -1..1: a sum of sinusoids whose periods (frames
    per cycle) are drawn from ``periods``; mixing several makes the motion irregular."""
    t = np.arange(num_frames, dtype=np.float64)
    cycle = rng.uniform(*periods, size=num_waves)
    phases = rng.uniform(0, 2 * np.pi, size=num_waves)
    weights = rng.uniform(0.3, 1.0, size=num_waves)
    waves = np.sin(2 * np.pi * t[:, None] / cycle + phases) * weights
    return waves.sum(axis=1) / weights.sum()


# Periods (frames per cycle) of the motion signals. The target crosses the free space of the frame
# in a few dozen frames (up to ~10 px per frame at 320x240), so a box that stays where it started
# scores low and a tracker must follow it; size and aspect ratio change on a similar time scale.
_MOTION_PERIODS = (24.0, 96.0)
_SHAPE_PERIODS = (30.0, 150.0)
_CAMERA_PERIODS = (60.0, 240.0)  # the slow pan and illumination drift of the background


def _trajectory(
    rng: np.random.Generator,
    num_frames: int,
    width: int,
    height: int,
    size_range: tuple[float, float],
) -> np.ndarray:
    """Boxes ``[num_frames, 4]`` ``x, y, w, h`` moving smoothly and staying inside the frame."""
    short = min(width, height)
    base_size = rng.uniform(*size_range) * short
    base_aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    log_scale = 0.4 * _smooth_signal(rng, num_frames, _SHAPE_PERIODS)
    log_aspect = 0.3 * _smooth_signal(rng, num_frames, _SHAPE_PERIODS)
    size = base_size * np.exp(log_scale)
    aspect = base_aspect * np.exp(log_aspect)
    w = np.minimum(size * np.sqrt(aspect), 0.9 * width)
    h = np.minimum(size / np.sqrt(aspect), 0.9 * height)
    # The signals stay within -1..1, so the centre roams the free space without sticking to the
    # border; the clip below only guards the rare overshoot.
    cx = width / 2 + 0.45 * (width - w) * _smooth_signal(rng, num_frames, _MOTION_PERIODS)
    cy = height / 2 + 0.45 * (height - h) * _smooth_signal(rng, num_frames, _MOTION_PERIODS)
    x = np.clip(cx - w / 2, 0.0, width - w)
    y = np.clip(cy - h / 2, 0.0, height - h)
    return np.stack([x, y, w, h], axis=1)


def _coverage(start: float, length: float, lo: int, hi: int) -> np.ndarray:
    """Fraction of each pixel ``lo..hi-1`` (pixel ``j`` is ``[j, j+1)``) inside the interval."""
    j = np.arange(lo, hi, dtype=np.float32)
    return np.clip(np.minimum(j + 1, start + length) - np.maximum(j, start), 0.0, 1.0)


def _composite(canvas: np.ndarray, texture: np.ndarray, box: np.ndarray) -> None:
    """Paint ``texture`` stretched onto ``box`` (``x, y, w, h``) into float32 ``canvas``."""
    height, width = canvas.shape[:2]
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    if w <= 0 or h <= 0 or x1 <= x0 or y1 <= y0:
        return
    th, tw = texture.shape[:2]
    sx, sy = tw / w, th / h
    # Inverse map: ROI pixel centre (j + 0.5 + x0) -> texture pixel index u.
    warp = np.array(
        [[sx, 0.0, (x0 + 0.5 - x) * sx - 0.5], [0.0, sy, (y0 + 0.5 - y) * sy - 0.5]],
        dtype=np.float64,
    )
    patch = cv2.warpAffine(
        texture,
        warp,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    alpha = (_coverage(y, h, y0, y1)[:, None] * _coverage(x, w, x0, x1)[None, :])[..., None]
    roi = canvas[y0:y1, x0:x1]
    roi += alpha * (patch - roi)


@dataclass(frozen=True)
class SyntheticSequence:
    """A procedural sequence whose frames are rendered on demand.

    Attributes:
        boxes: target ground truth ``[T, 4]`` float64 0-based ``x, y, w, h``.
        frame_size: ``(width, height)`` of every frame.
    """

    boxes: np.ndarray
    frame_size: tuple[int, int]
    background: np.ndarray  # float32 canvas larger than a frame, panned by ``camera``
    camera: np.ndarray  # [T, 2] int top-left corner of the view into ``background``
    gain: np.ndarray  # [T] global illumination factor
    target_texture: np.ndarray
    distractors: tuple[tuple[np.ndarray, np.ndarray], ...]  # (texture, boxes [T, 4])

    def __len__(self) -> int:
        return len(self.boxes)

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as BGR uint8 ``[height, width, 3]``."""
        width, height = self.frame_size
        cx, cy = self.camera[t]
        canvas = self.background[cy : cy + height, cx : cx + width].copy()
        for texture, boxes in self.distractors:
            _composite(canvas, texture, boxes[t])
        _composite(canvas, self.target_texture, self.boxes[t])
        canvas *= self.gain[t]
        return np.clip(canvas, 0, 255).astype(np.uint8)


def make_sequence(
    seed: SeedLike, num_frames: int, frame_size: tuple[int, int] = (320, 240)
) -> SyntheticSequence:
    """Build sequence number ``seed`` (an int or a tuple such as ``(base_seed, index)``).

    Args:
        seed: anything ``numpy.random.default_rng`` accepts; equal seeds give identical sequences.
        num_frames: sequence length ``T`` (>= 1).
        frame_size: ``(width, height)`` in pixels, each >= 32.
    """
    width, height = (int(v) for v in frame_size)
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if width < 32 or height < 32:
        raise ValueError(f"frame_size must be at least 32x32, got {frame_size}")
    rng = np.random.default_rng(seed)
    pad_x, pad_y = width // 4, height // 4
    bg_h, bg_w = height + 2 * pad_y, width + 2 * pad_x
    background = (
        rng.uniform(60, 190, size=3).astype(np.float32)
        + 90 * (_smooth_noise(rng, bg_h, bg_w, cell=int(rng.integers(16, 48))) - 0.5)
        + 40 * (_smooth_noise(rng, bg_h, bg_w, cell=3) - 0.5)
    )
    camera = np.stack(
        [
            np.rint(pad_x * (1 + _smooth_signal(rng, num_frames, _CAMERA_PERIODS))),
            np.rint(pad_y * (1 + _smooth_signal(rng, num_frames, _CAMERA_PERIODS))),
        ],
        axis=1,
    ).astype(np.int64)
    camera = np.clip(camera, 0, [2 * pad_x, 2 * pad_y])
    gain = 1.0 + 0.15 * _smooth_signal(rng, num_frames, _CAMERA_PERIODS)
    boxes = _trajectory(rng, num_frames, width, height, size_range=(0.15, 0.35))
    target_texture = _texture(rng)
    # 1-3 distractors, each a look-alike of the target with probability 1/2
    distractors = tuple(
        (
            _texture(rng, like=target_texture if rng.random() < 0.5 else None),
            _trajectory(rng, num_frames, width, height, size_range=(0.12, 0.3)),
        )
        for _ in range(int(rng.integers(1, 4)))
    )
    return SyntheticSequence(
        boxes=boxes,
        frame_size=(width, height),
        background=background,
        camera=camera,
        gain=gain.astype(np.float32),
        target_texture=target_texture,
        distractors=distractors,
    )


def generate_sequence(
    seed: SeedLike, num_frames: int, frame_size: tuple[int, int] = (320, 240)
) -> tuple[list[np.ndarray], np.ndarray]:
    """All frames (BGR uint8) and gt boxes ``[T, 4]`` ``x, y, w, h`` of sequence ``seed``."""
    seq = make_sequence(seed, num_frames, frame_size)
    return [seq.frame(t) for t in range(num_frames)], seq.boxes.copy()


def sequence_name(split: str, index: int) -> str:
    """GOT-10k-style name of synthetic sequence ``index`` (0-based) of ``split``."""
    return f"Synthetic_{split.capitalize()}_{index + 1:06d}"


def write_got10k_split(
    root: Path,
    split: str,
    num_sequences: int,
    num_frames: int,
    frame_size: tuple[int, int] = (320, 240),
    seed: int = 0,
    workers: int = 1,
) -> list[str]:
    """Write ``num_sequences`` synthetic sequences as ``<root>/<split>`` in the GOT-10k layout.

    Sequence ``k`` uses seed ``(seed, k)``; ``list.txt`` is written last, so a folder with a
    ``list.txt`` is complete. The test split gets only the first gt line, as GOT-10k publishes it.
    ``workers`` processes write sequences in parallel (the files do not depend on it).

    Returns:
        the sequence names, in ``list.txt`` order.
    """
    if split not in GOT10K_SPLITS:
        raise ValueError(f"split must be one of {GOT10K_SPLITS}, got {split!r}")
    split_dir = Path(root) / split
    jobs = [
        (split_dir, sequence_name(split, k), (seed, k), num_frames, frame_size, split != "test")
        for k in range(num_sequences)
    ]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            names = list(pool.map(_write_sequence, jobs))
    else:
        names = [_write_sequence(job) for job in jobs]
    write_got10k_list(split_dir, names)
    return names


def _write_sequence(job: tuple) -> str:
    split_dir, name, seed, num_frames, frame_size, full_gt = job
    frames, boxes = generate_sequence(seed, num_frames, frame_size)
    write_got10k_sequence(split_dir / name, frames, boxes, full_gt=full_gt)
    return name
