"""SiamFC++ score and box post-processing: pure numpy functions of one frame's network output.

Arithmetic follows the original implementation operation by operation, in float32 except where
it promotes to float64 (the cosine window), so that boxes agree with it to float rounding.
Scalars are cast explicitly, which makes the result independent of numpy's promotion rules.
"""

from __future__ import annotations

import numpy as np

WINDOWINGS = ("cosine", "uniform")


def make_window(score_size: int, windowing: str) -> np.ndarray:
    """Motion prior over the flattened ``score_size x score_size`` map, shape ``[N]`` float64.

    ``cosine``: outer product of Hann windows (peak 1 at the centre, 0 at the border);
    ``uniform``: all ones, i.e. no positional preference beyond the score itself.
    """
    if windowing == "cosine":
        return np.outer(np.hanning(score_size), np.hanning(score_size)).reshape(-1)
    if windowing == "uniform":
        return np.ones(score_size * score_size)
    raise ValueError(f"windowing must be one of {WINDOWINGS}, got {windowing!r}")


def _change(ratio: np.ndarray) -> np.ndarray:
    """Symmetric change factor ``max(r, 1 / r) >= 1``."""
    return np.maximum(ratio, 1.0 / ratio)


def _padded_size(w, h):
    """Side of the box's padded square, ``sqrt((w + p)(h + p))`` with ``p = (w + h) / 2``."""
    pad = (w + h) * np.float32(0.5)
    return np.sqrt((w + pad) * (h + pad))


def size_penalty(
    boxes_cxywh: np.ndarray, target_sz_in_crop: np.ndarray, penalty_k: float
) -> np.ndarray:
    """Penalty ``exp(-(r_c * s_c - 1) * k)`` in ``(0, 1]`` for each candidate's size change.

    Args:
        boxes_cxywh: ``[N, 4]`` float32 candidate boxes in search-crop pixels.
        target_sz_in_crop: ``(w, h)`` float32 previous target size in search-crop pixels.
        penalty_k: penalty strength ``k``.

    Returns:
        ``[N]`` float32; ``s_c`` is the change of the padded size, ``r_c`` of the aspect ratio.
    """
    w, h = boxes_cxywh[:, 2], boxes_cxywh[:, 3]
    tw, th = target_sz_in_crop[0], target_sz_in_crop[1]
    scale_change = _change(_padded_size(w, h) / _padded_size(tw, th))
    ratio_change = _change((tw / th) / (w / h))
    return np.exp(-(ratio_change * scale_change - 1) * np.float32(penalty_k))


def penalized_score(
    score: np.ndarray,
    penalty: np.ndarray,
    window: np.ndarray,
    window_influence: float,
) -> np.ndarray:
    """``(1 - w) * penalty * score + w * window``, shape ``[N]`` float64 (the selection score)."""
    pscore = penalty * score
    return pscore * np.float32(1 - window_influence) + window * window_influence


def update_target(
    best: int,
    score: np.ndarray,
    penalty: np.ndarray,
    boxes_cxywh: np.ndarray,
    center_xy: np.ndarray,
    target_sz: np.ndarray,
    scale: np.float32,
    x_size: int,
    test_lr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """New target centre and size in frame pixels from the selected candidate ``best``.

    The centre jumps to the candidate; the size moves towards it by the learning rate
    ``lr = penalty * score * test_lr`` of that candidate. The original casts the crop scale
    to float32 here; with float32 state (numpy >= 2 promotion) it already is. Results change
    measurably if this step runs in float64, so everything stays float32.

    Args:
        best: index of the selected candidate.
        score, penalty: ``[N]`` float32 raw score and size penalty.
        boxes_cxywh: ``[N, 4]`` float32 candidates in search-crop pixels.
        center_xy, target_sz: previous ``(cx, cy)`` and ``(w, h)``, float32, frame pixels.
        scale: crop pixels per frame pixel of the search crop.
        x_size: search crop side; its centre ``x_size // 2`` is the previous target centre.
        test_lr: size learning rate.

    Returns:
        ``(center_xy, target_sz)`` float32 arrays of shape ``[2]``.
    """
    scale = np.float32(scale)
    pred = boxes_cxywh[best] / scale
    lr = penalty[best] * score[best] * np.float32(test_lr)
    crop_center_in_frame = np.float32(x_size // 2) / scale
    center = pred[:2] + center_xy - crop_center_in_frame
    size = target_sz * (np.float32(1) - lr) + pred[2:] * lr
    return center.astype(np.float32), size.astype(np.float32)


def clamp_target(
    center_xy: np.ndarray,
    target_sz: np.ndarray,
    image_wh: tuple[int, int],
    min_wh: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the centre inside ``[0, W] x [0, H]`` and the size within ``[min, W or H]``."""
    limit = np.asarray(image_wh, dtype=center_xy.dtype)
    center = np.minimum(np.maximum(center_xy, 0), limit)
    size = np.maximum(np.minimum(target_sz, limit), np.asarray(min_wh, dtype=target_sz.dtype))
    return center, size
