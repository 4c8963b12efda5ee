"""SiamFC++ single-object tracker: template crop on ``init``, search crop + scoring on ``update``.

Reproduces the original implementation's tracking pipeline (its ``SiamFCppTracker``) number for
number: the target state is a float32 centre and size, crops use its geometry and padding, and
the post-processing in :mod:`siamfcpp.tracking.postprocess` follows its arithmetic.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from siamfcpp.geometry import cxywh_to_xywh, get_crop, xywh_to_cxywh, xyxy_to_cxywh
from siamfcpp.tracking.postprocess import (
    clamp_target,
    make_window,
    penalized_score,
    size_penalty,
    update_target,
)

Kernels = tuple[torch.Tensor, ...]


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"frame must be a BGR uint8 array of shape [H, W, 3], got {shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 (as cv2.imread returns), got {frame.dtype}")


def _check_overlaps_frame(box_xywh: np.ndarray, image_wh: tuple[int, int]) -> None:
    """An initial box wholly outside the frame is a bad label, not a target to track.

    Boxes partly outside (targets at the border) and tiny boxes (down to a fraction of a pixel)
    are tracked: the crops pad with the mean colour and the context keeps the crop finite.
    """
    x, y, w, h = (float(v) for v in np.asarray(box_xywh).reshape(4))
    width, height = image_wh
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ValueError(
            f"initial box {[x, y, w, h]} lies outside the {width}x{height} frame "
            "(boxes are 0-based pixel x, y, w, h)"
        )


class SiamFCppTracker:
    """Track one target with a :class:`~siamfcpp.model.network.SiamFCpp` network.

    Args:
        model: network with ``template(z) -> kernels`` and
            ``search(x, kernels) -> (score [B, N], boxes_xyxy [B, N, 4], cls [B, N], ctr [B, N])``.
        device: where the network runs (moved there and put in eval mode).
        z_size: template crop side (127).
        x_size: search crop side; must match the network's head geometry.
        score_size: side of the network's score map (``N = score_size ** 2``).
        context_amount: context added around the target, as a fraction of ``w + h``.
        test_lr: how fast the box size follows the prediction.
        penalty_k: strength of the scale / aspect-ratio change penalty.
        window_influence: weight of the motion prior window in candidate selection.
        windowing: ``"cosine"`` or ``"uniform"`` motion prior.
        min_w, min_h: smallest box size the tracker outputs.

    After each ``update`` the attributes ``last_search_crop`` (``[x_size, x_size, 3]`` uint8 BGR),
    ``last_score_map`` (``[score_size, score_size]`` float32, cls x centerness),
    ``last_penalized_map`` (the selection score) and ``last_scale`` (crop pixels per frame pixel)
    hold what the tracker saw; ``template_crop`` holds the ``[z_size, z_size, 3]`` template.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str | torch.device,
        z_size: int,
        x_size: int,
        score_size: int,
        context_amount: float,
        test_lr: float,
        penalty_k: float,
        window_influence: float,
        windowing: str,
        min_w: float,
        min_h: float,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.z_size = z_size
        self.x_size = x_size
        self.score_size = score_size
        self.context_amount = context_amount
        self.test_lr = test_lr
        self.penalty_k = penalty_k
        self.window_influence = window_influence
        self.min_wh = (min_w, min_h)
        self.window = make_window(score_size, windowing)

        self.center_xy: np.ndarray | None = None
        self.target_sz: np.ndarray | None = None
        self.template_crop: np.ndarray | None = None
        self.last_search_crop: np.ndarray | None = None
        self.last_score_map: np.ndarray | None = None
        self.last_penalized_map: np.ndarray | None = None
        self.last_scale: np.float32 | None = None

    # ------------------------------------------------------------------ public interface
    def init(self, frame: np.ndarray, box_xywh: np.ndarray) -> None:
        """Start tracking the target at ``box_xywh`` (0-based ``x, y, w, h``) in ``frame``."""
        _check_frame(frame)
        self.center_xy, self.target_sz = self._state_from_xywh(box_xywh)
        self.image_wh = (frame.shape[1], frame.shape[0])
        _check_overlaps_frame(box_xywh, self.image_wh)
        self.avg_chans = np.mean(frame, axis=(0, 1))
        self.template_crop, kernels = self._template(frame)
        self._init_templates(kernels)

    def update(self, frame: np.ndarray, prior_xywh: np.ndarray | None = None) -> np.ndarray:
        """Locate the target in the next ``frame``; returns its ``x, y, w, h`` (float32).

        The search is centred on the previous estimate, or on ``prior_xywh`` when given
        (e.g. to evaluate each frame from a reference trajectory's previous box).
        """
        if self.center_xy is None:
            raise RuntimeError("call init(frame, box_xywh) before update(frame)")
        _check_frame(frame)
        if prior_xywh is not None:
            self.center_xy, self.target_sz = self._state_from_xywh(prior_xywh)
        crop, scale = get_crop(
            frame,
            self.center_xy,
            self.target_sz,
            self.z_size,
            self.x_size,
            self.avg_chans,
            self.context_amount,
        )
        score, boxes_xyxy = self._score_candidates(self._to_tensor(crop))
        if not (np.all(np.isfinite(score)) and np.all(np.isfinite(boxes_xyxy))):
            raise FloatingPointError("network output is not finite (NaN/inf): check the weights")
        if score.shape[0] != self.window.shape[0]:
            raise ValueError(
                f"network gives {score.shape[0]} candidates but score_size={self.score_size} "
                f"expects {self.window.shape[0]}: the tracker and model.head geometry disagree"
            )
        boxes = xyxy_to_cxywh(boxes_xyxy)

        penalty = size_penalty(boxes, self.target_sz * scale, self.penalty_k)
        pscore = penalized_score(score, penalty, self.window, self.window_influence)
        best = int(np.argmax(pscore))
        center, size = update_target(
            best,
            score,
            penalty,
            boxes,
            self.center_xy,
            self.target_sz,
            scale,
            self.x_size,
            self.test_lr,
        )
        self.center_xy, self.target_sz = clamp_target(center, size, self.image_wh, self.min_wh)

        side = (self.score_size, self.score_size)
        self.last_search_crop = crop
        self.last_score_map = score.reshape(side)
        self.last_penalized_map = pscore.reshape(side)
        self.last_scale = scale
        self._after_update(frame)
        return self.box_xywh

    @property
    def box_xywh(self) -> np.ndarray:
        """Current target box, 0-based ``x, y, w, h`` float32."""
        return cxywh_to_xywh(np.concatenate([self.center_xy, self.target_sz]))

    # ------------------------------------------------------------------ extension points
    def _init_templates(self, kernels: Kernels) -> None:
        """Keep the template kernels computed on the first frame."""
        self.kernels = kernels

    def _score_candidates(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Score ``[N]`` and boxes ``[N, 4]`` xyxy (crop pixels), float32, of one search crop."""
        return self._search(x, self.kernels)

    def _after_update(self, frame: np.ndarray) -> None:
        """Hook run at the end of every ``update`` (the single-template tracker does nothing)."""

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _state_from_xywh(box_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validated ``x, y, w, h`` -> float32 centre ``[2]`` and size ``[2]``."""
        box = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"box must be finite x, y, w, h with w, h > 0, got {box_xywh}")
        state = xywh_to_cxywh(box.astype(np.float32))
        return state[:2], state[2:]

    def _to_tensor(self, crop: np.ndarray) -> torch.Tensor:
        """``[S, S, 3]`` uint8 crop -> ``[1, 3, S, S]`` float32 pixel values on the device."""
        chw = np.ascontiguousarray(crop.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
        return torch.from_numpy(chw).to(self.device)

    @torch.no_grad()
    def _template(self, frame: np.ndarray) -> tuple[np.ndarray, Kernels]:
        """Template crop ``[z_size, z_size, 3]`` around the current target and its kernels."""
        crop, _ = get_crop(
            frame,
            self.center_xy,
            self.target_sz,
            self.z_size,
            self.z_size,
            self.avg_chans,
            self.context_amount,
        )
        return crop, self.model.template(self._to_tensor(crop))

    @torch.no_grad()
    def _search(self, x: torch.Tensor, kernels: Kernels) -> tuple[np.ndarray, np.ndarray]:
        score, boxes_xyxy, _, _ = self.model.search(x, kernels)
        return score[0].cpu().numpy(), boxes_xyxy[0].cpu().numpy()
