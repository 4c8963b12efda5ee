"""SiamFC++ single-object tracker: template crop on ``init``, search crop + scoring on ``update``.

Reproduces the original implementation's tracking pipeline (its ``SiamFCppTracker``) number for
number: the target state is a float32 centre and size, crops use its geometry and padding, and
the post-processing in :mod:`siamfcpp.tracking.postprocess` follows its arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from siamfcpp.config import ConfigValueError, config_int, config_number
from siamfcpp.geometry import cxywh_to_xywh, get_crop, xywh_to_cxywh
from siamfcpp.tracking.network_form import NetworkForm
from siamfcpp.tracking.postprocess import WINDOWINGS, make_window, track_step

Kernels = tuple[torch.Tensor, ...]
SearchRequest = tuple[torch.Tensor, Kernels]
"""One network call a frame needs: search crop ``x [1, 3, X, X]`` and the kernels to score it."""


NON_FINITE_OUTPUT = (
    "network output is not finite (NaN/inf): the network's activations overflow (its weights "
    "are checked finite when a checkpoint is loaded)"
)


def check_frame(frame: np.ndarray, image_wh: tuple[int, int] | None = None) -> None:
    """Raise ``ValueError`` unless ``frame`` is a BGR uint8 ``[H, W, 3]`` array, of size
    ``image_wh`` (the initial frame's) if given."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"frame must be a BGR uint8 array of shape [H, W, 3], got {shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 (as cv2.imread returns), got {frame.dtype}")
    if image_wh is not None and (frame.shape[1], frame.shape[0]) != tuple(image_wh):
        raise ValueError(
            f"frame is {frame.shape[1]}x{frame.shape[0]} but the target was initialised on a "
            f"{image_wh[0]}x{image_wh[1]} frame: the frames of a sequence must keep one size"
        )


def check_hyper_parameters(
    *,
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
    """Raise :class:`~siamfcpp.config.ConfigValueError` naming the first hyper-parameter of the
    tracker (``conf/tracker/*.yaml``) outside its allowed range."""
    config_int("z_size", z_size, 1)
    config_int("x_size", x_size, z_size, hint=" (the template size z_size: x_size is the search)")
    config_int("score_size", score_size, 1)
    config_number("context_amount", context_amount, 0)
    config_number("test_lr", test_lr, 0, 1)
    config_number("penalty_k", penalty_k, 0)
    config_number("window_influence", window_influence, 0, 1)
    if windowing not in WINDOWINGS:
        raise ConfigValueError("windowing", windowing, f"one of {', '.join(WINDOWINGS)}")
    config_number("min_w", min_w, 0)
    config_number("min_h", min_h, 0)


def check_initial_box(box_xywh: np.ndarray, image_wh: tuple[int, int]) -> None:
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


def check_num_cells(found: int, expected: int, score_size: int) -> None:
    """Raise ``ValueError`` when the network's candidates do not fill the score map."""
    if found != expected:
        raise ValueError(
            f"network gives {found} candidates but score_size={score_size} expects {expected}: "
            "the tracker and model.head geometry disagree"
        )


def state_from_xywh(box_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``x, y, w, h`` -> float32 centre ``[2]`` and size ``[2]`` (the tracker state)."""
    box = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box must be finite x, y, w, h with w, h > 0, got {box_xywh}")
    state = xywh_to_cxywh(box.astype(np.float32))
    return state[:2], state[2:]


class SiamFCppTracker:
    """Track one target with a :class:`~siamfcpp.model.network.SiamFCpp` network.

    Args:
        model: network with ``template(z) -> kernels`` and
            ``search(x, kernels) -> (score [B, N], boxes_xyxy [B, N, 4], cls [B, N], ctr [B, N])``;
            a :class:`~siamfcpp.model.network.SiamFCpp` runs in the form ``network`` selects,
            any other network as given.
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
        network, xcorr, compile, stem, fuse_relu: the network form, float32
            (:class:`~siamfcpp.tracking.network_form.NetworkForm`); ``network=reference`` runs
            the module as trained, as the original does.

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
        network: str,
        xcorr: str | None,
        compile: str | None,
        stem: str,
        fuse_relu: bool,
    ) -> None:
        check_hyper_parameters(
            z_size=z_size,
            x_size=x_size,
            score_size=score_size,
            context_amount=context_amount,
            test_lr=test_lr,
            penalty_k=penalty_k,
            window_influence=window_influence,
            windowing=windowing,
            min_w=min_w,
            min_h=min_h,
        )
        self.device = torch.device(device)
        form = NetworkForm(network, xcorr, compile, stem, fuse_relu)
        self.model = form.build(model, self.device)
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
        with torch.no_grad():
            self.end_init(self.model.template(self.begin_init(frame, box_xywh)))

    def update(self, frame: np.ndarray, prior_xywh: np.ndarray | None = None) -> np.ndarray:
        """Locate the target in the next ``frame``; returns its ``x, y, w, h`` (float32).

        The search is centred on the previous estimate, or on ``prior_xywh`` when given
        (e.g. to evaluate each frame from a reference trajectory's previous box).
        """
        requests = self.begin_update(frame, prior_xywh)
        return self.end_update([self.search(x, kernels) for x, kernels in requests])

    # ------------------------------------------------------------------ the two halves
    # A frame is tracked in two halves around the network call, so that a batched engine
    # (siamfcpp.tracking.engine) can make one network call for many trackers.
    def begin_init(self, frame: np.ndarray, box_xywh: np.ndarray) -> torch.Tensor:
        """Validate, set the state and return the template crop ``[1, 3, Z, Z]`` to embed."""
        check_frame(frame)
        self.center_xy, self.target_sz = state_from_xywh(box_xywh)
        self.image_wh = (frame.shape[1], frame.shape[0])
        check_initial_box(box_xywh, self.image_wh)
        self.avg_chans = np.mean(frame, axis=(0, 1))
        self.template_crop = self._crop(frame, self.z_size)[0]
        return self._to_tensor(self.template_crop)

    def end_init(self, kernels: Kernels) -> None:
        """Keep the template kernels of :meth:`begin_init`'s crop (``[1, ...]`` each)."""
        self._init_templates(kernels)

    def begin_update(
        self, frame: np.ndarray, prior_xywh: np.ndarray | None = None
    ) -> list[SearchRequest]:
        """Crop the search region of ``frame``; returns the network calls the frame needs:
        ``(x [1, 3, X, X], kernels)`` pairs whose outputs :meth:`end_update` takes in order."""
        if self.center_xy is None:
            raise RuntimeError("call init(frame, box_xywh) before update(frame)")
        check_frame(frame, self.image_wh)
        if prior_xywh is not None:
            self.center_xy, self.target_sz = state_from_xywh(prior_xywh)
        crop, self.last_scale = self._crop(frame, self.x_size)
        self.last_search_crop = crop
        self._frame = frame
        x = self._to_tensor(crop)
        return [(x, kernels) for kernels in self._search_kernels()]

    def end_update(self, outputs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> np.ndarray:
        """Finish the frame from the outputs ``(score [N], boxes_xyxy [N, 4])`` of the calls
        :meth:`begin_update` asked for; returns the new ``x, y, w, h`` (float32)."""
        outputs = [(s.cpu().numpy(), b.cpu().numpy()) for s, b in outputs]
        score, boxes_xyxy = self._fuse(outputs)
        if not (np.all(np.isfinite(score)) and np.all(np.isfinite(boxes_xyxy))):
            raise FloatingPointError(NON_FINITE_OUTPUT)
        check_num_cells(score.shape[0], self.window.shape[0], self.score_size)
        self.center_xy, self.target_sz, pscore = track_step(
            score,
            boxes_xyxy,
            self.center_xy,
            self.target_sz,
            self.last_scale,
            window=self.window,
            image_wh=self.image_wh,
            min_wh=self.min_wh,
            x_size=self.x_size,
            test_lr=self.test_lr,
            penalty_k=self.penalty_k,
            window_influence=self.window_influence,
        )
        side = (self.score_size, self.score_size)
        self.last_score_map = score.reshape(side)
        self.last_penalized_map = pscore.reshape(side)
        self._after_update(self._frame)
        self._frame = None
        return self.box_xywh

    @torch.no_grad()
    def search(self, x: torch.Tensor, kernels: Kernels) -> tuple[torch.Tensor, torch.Tensor]:
        """The network call of one search request: ``(score [N], boxes_xyxy [N, 4])``."""
        score, boxes_xyxy, _, _ = self.model.search(x, kernels)
        return score[0], boxes_xyxy[0]

    @property
    def box_xywh(self) -> np.ndarray:
        """Current target box, 0-based ``x, y, w, h`` float32."""
        return cxywh_to_xywh(np.concatenate([self.center_xy, self.target_sz]))

    # ------------------------------------------------------------------ extension points
    def _init_templates(self, kernels: Kernels) -> None:
        """Keep the template kernels computed on the first frame."""
        self.kernels = kernels

    def _search_kernels(self) -> list[Kernels]:
        """The kernels each search crop is scored against (one network call each)."""
        return [self.kernels]

    def _fuse(self, outputs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Score ``[N]`` and boxes ``[N, 4]`` of the frame from the calls' outputs."""
        return outputs[0]

    def _after_update(self, frame: np.ndarray) -> None:
        """Hook run at the end of every ``update`` (the single-template tracker does nothing)."""

    # ------------------------------------------------------------------ helpers
    def _to_tensor(self, crop: np.ndarray) -> torch.Tensor:
        """``[S, S, 3]`` uint8 crop -> ``[1, 3, S, S]`` float32 pixel values on the device."""
        chw = np.ascontiguousarray(crop.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
        return torch.from_numpy(chw).to(self.device)

    def _crop(self, frame: np.ndarray, out_size: int) -> tuple[np.ndarray, np.float32]:
        """Crop of side ``out_size`` around the current target: ``(patch, scale)``."""
        return get_crop(
            frame,
            self.center_xy,
            self.target_sz,
            self.z_size,
            out_size,
            self.avg_chans,
            self.context_amount,
        )
