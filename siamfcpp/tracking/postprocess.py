"""SiamFC++ score and box post-processing: pure functions of the network's output.

One implementation serves every tracking path: the functions take numpy arrays (the reference
tracker) or torch tensors (the device paths), for one target (``score [N]``) or a batch of
targets (``score [B, N]``, any leading axes).

Arithmetic follows the original implementation operation by operation, in float32 except where it
promotes to float64 (the cosine window), so that boxes agree with it to float rounding. Scalars
enter as Python floats already rounded to float32 (:func:`f32`): both numpy and torch treat them
as "weak" and keep the float32 arithmetic, and the selected candidate is picked with
``take_along_axis`` so that no value degrades to a numpy scalar (whose promotion differs between
numpy versions).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from siamfcpp.geometry import xyxy_to_cxywh

Array = TypeVar("Array", np.ndarray, torch.Tensor)

WINDOWINGS = ("cosine", "uniform")


def f32(value: float) -> float:
    """``value`` rounded to float32, as a Python float (a weak scalar for numpy and torch)."""
    return float(np.float32(value))


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


def _lib(a: Array):
    return torch if isinstance(a, torch.Tensor) else np


def _as_like(value, like: Array) -> Array:
    """``value`` as an array of ``like``'s library, dtype and device (no copy if it is one)."""
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return np.asarray(value, dtype=like.dtype)


def _change(ratio: Array) -> Array:
    """Symmetric change factor ``max(r, 1 / r) >= 1``."""
    return _lib(ratio).maximum(ratio, 1.0 / ratio)


def _padded_size(w: Array, h: Array) -> Array:
    """Side of the box's padded square, ``sqrt((w + p)(h + p))`` with ``p = (w + h) / 2``."""
    pad = (w + h) * 0.5
    return _lib(w).sqrt((w + pad) * (h + pad))


def size_penalty(boxes_cxywh: Array, target_sz_in_crop: Array, penalty_k: float) -> Array:
    """Penalty ``exp(-(r_c * s_c - 1) * k)`` in ``(0, 1]`` for each candidate's size change.

    Args:
        boxes_cxywh: ``[..., N, 4]`` float32 candidate boxes in search-crop pixels.
        target_sz_in_crop: ``[..., 2]`` float32 previous target size ``(w, h)`` in crop pixels.
        penalty_k: penalty strength ``k``.

    Returns:
        ``[..., N]`` float32; ``s_c`` is the change of the padded size, ``r_c`` of the aspect ratio.
    """
    w, h = boxes_cxywh[..., 2], boxes_cxywh[..., 3]
    tw, th = target_sz_in_crop[..., 0:1], target_sz_in_crop[..., 1:2]
    scale_change = _change(_padded_size(w, h) / _padded_size(tw, th))
    ratio_change = _change((tw / th) / (w / h))
    return _lib(w).exp(-(ratio_change * scale_change - 1) * f32(penalty_k))


def penalized_score(score: Array, penalty: Array, window: Array, window_influence: float) -> Array:
    """``(1 - w) * penalty * score + w * window``, ``[..., N]`` float64 (the selection score).

    ``window`` is the float64 ``[N]`` motion prior (:func:`make_window`), of ``score``'s library.
    """
    pscore = penalty * score * f32(1 - window_influence)
    return pscore + window * window_influence  # float32 + float64: promoted to float64


def _take(values: Array, best: Array) -> Array:
    """``values[..., best, :]`` of ``[..., N, C]`` -> ``[..., C]``; ``[..., N]`` -> ``[..., 1]``."""
    if isinstance(values, torch.Tensor):
        take = torch.take_along_dim
    else:
        take, best = np.take_along_axis, np.asarray(best)
    if values.ndim == best.ndim + 2:
        return take(values, best[..., None, None], -2)[..., 0, :]
    return take(values, best[..., None], -1)


def update_target(
    best: Array,
    score: Array,
    penalty: Array,
    boxes_cxywh: Array,
    center_xy: Array,
    target_sz: Array,
    scale: Array,
    x_size: int,
    test_lr: float,
) -> tuple[Array, Array]:
    """New target centre and size in frame pixels from the selected candidate ``best``.

    The centre jumps to the candidate; the size moves towards it by the learning rate
    ``lr = penalty * score * test_lr`` of that candidate. The original casts the crop scale to
    float32 here; it is float32 throughout. Results change measurably if this step runs in
    float64, so everything stays float32.

    Args:
        best: ``[...]`` integer index of the selected candidate.
        score, penalty: ``[..., N]`` float32 raw score and size penalty.
        boxes_cxywh: ``[..., N, 4]`` float32 candidates in search-crop pixels.
        center_xy, target_sz: ``[..., 2]`` previous ``(cx, cy)`` and ``(w, h)``, float32, frame
            pixels.
        scale: ``[...]`` float32 crop pixels per frame pixel of the search crop.
        x_size: search crop side; its centre ``x_size // 2`` is the previous target centre.
        test_lr: size learning rate.

    Returns:
        ``(center_xy, target_sz)``, each ``[..., 2]`` float32.
    """
    scale = scale[..., None]
    pred = _take(boxes_cxywh, best) / scale
    lr = _take(penalty, best) * _take(score, best) * f32(test_lr)
    crop_center_in_frame = float(x_size // 2) / scale
    center = pred[..., :2] + center_xy - crop_center_in_frame
    size = target_sz * (1 - lr) + pred[..., 2:] * lr
    return center, size


def clamp_target(
    center_xy: Array, target_sz: Array, image_wh: Array, min_wh: Array
) -> tuple[Array, Array]:
    """Keep the centre inside ``[0, W] x [0, H]`` and the size within ``[min, W or H]``.

    ``image_wh`` and ``min_wh`` broadcast against ``[..., 2]`` (sequences or arrays).
    """
    lib = _lib(center_xy)
    limit = _as_like(image_wh, center_xy)
    center = lib.minimum(lib.clip(center_xy, 0, None), limit)
    size = lib.maximum(lib.minimum(target_sz, limit), _as_like(min_wh, target_sz))
    return center, size


def track_step(
    score: Array,
    boxes_xyxy: Array,
    center_xy: Array,
    target_sz: Array,
    scale: Array,
    *,
    window: Array,
    image_wh: Array,
    min_wh: Array,
    x_size: int,
    test_lr: float,
    penalty_k: float,
    window_influence: float,
) -> tuple[Array, Array, Array]:
    """One frame's post-processing: pick the best candidate, move and clamp the target.

    Args:
        score: ``[..., N]`` float32 cls x centerness of every score-map cell.
        boxes_xyxy: ``[..., N, 4]`` float32 candidate boxes (inclusive corners, crop pixels).
        center_xy, target_sz: ``[..., 2]`` float32 state before the frame (frame pixels).
        scale: ``[...]`` float32 crop pixels per frame pixel of the search crop.
        window: ``[N]`` float64 motion prior; image_wh, min_wh: ``[..., 2]`` limits.
        x_size, test_lr, penalty_k, window_influence: the tracker's hyper-parameters.

    Returns:
        ``(center_xy, target_sz, pscore)``: the new float32 state and the float64 ``[..., N]``
        selection score.
    """
    boxes = xyxy_to_cxywh(boxes_xyxy)
    penalty = size_penalty(boxes, target_sz * scale[..., None], penalty_k)
    pscore = penalized_score(score, penalty, window, window_influence)
    best = _lib(pscore).argmax(pscore, -1)
    center, size = update_target(
        best, score, penalty, boxes, center_xy, target_sz, scale, x_size, test_lr
    )
    center, size = clamp_target(center, size, image_wh, min_wh)
    return center, size, pscore
