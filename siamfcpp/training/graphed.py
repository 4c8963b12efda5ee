"""The network's training forward + backward replayed as CUDA graphs (``module.cuda_graph``).

An eager training step of GoogLeNet launches over a thousand small kernels; at batch 64 on an
H200 the host cannot launch them as fast as the GPU runs them. Captured once as CUDA graphs
(:func:`torch.cuda.make_graphed_callables`), forward and backward are one replay each; the
losses and the optimizer step stay eager.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch
from torch import Tensor, nn


class GraphedForward:
    """Calls ``model(z, x)`` in training mode through CUDA graphs of its forward and backward.

    The graphs bake in the input shapes and layouts, which parameters train and the autocast
    state; they are captured on the first call and again whenever one of these changes (the
    freeze schedule releasing parameters, say). Capturing runs the network a few times on the
    batch: batch-norm running statistics are put back afterwards, so a step updates them once,
    as eager training does. The model's own ``forward`` is left as it was.

    Args:
        model: the network, on a CUDA device, in its training memory format; its parameters
            must keep their storage (the graphs read them in place).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.key: Hashable | None = None
        self.forward: Callable[..., dict[str, Tensor]] | None = None

    def _key(self, z: Tensor, x: Tensor) -> Hashable:
        return (
            tuple(z.shape),
            z.stride(),
            tuple(x.shape),
            x.stride(),
            tuple(p.requires_grad for p in self.model.parameters()),
            torch.is_autocast_enabled("cuda"),
            torch.get_autocast_dtype("cuda"),
        )

    def _capture(self, z: Tensor, x: Tensor) -> Callable[..., dict[str, Tensor]]:
        saved = [buffer.clone() for buffer in self.model.buffers()]
        # graphs replay the casts they captured: autocast must not cache casts across calls
        with torch.autocast(
            "cuda",
            dtype=torch.get_autocast_dtype("cuda"),
            enabled=torch.is_autocast_enabled("cuda"),
            cache_enabled=False,
        ):
            torch.cuda.make_graphed_callables(self.model, (z, x))
        # make_graphed_callables sets the module's forward to the graphed one: take it back
        forward = self.model.forward
        del self.model.forward
        with torch.no_grad():
            for buffer, value in zip(self.model.buffers(), saved, strict=True):
                buffer.copy_(value)
        return forward

    def __call__(self, z: Tensor, x: Tensor) -> dict[str, Tensor]:
        key = self._key(z, x)
        if self.forward is None or key != self.key:
            self.forward = self._capture(z, x)
            self.key = key
        return self.forward(z, x)
