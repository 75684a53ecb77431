"""The GEMM roofline of ``benchmarks/train_throughput.py``: only the matrix products and
convolutions of one training step, replayed back to back on random tensors of the same shapes,
strides and dtypes. It never counts elementwise work, normalisation, losses, optimizer updates or
data loading, so the Trainer's step time over it bounds what any loop could gain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.throughput.timing import seconds_per_step

aten = torch.ops.aten
GEMMS = {aten.mm, aten.addmm, aten.bmm, aten.baddbmm, aten.convolution, aten.convolution_backward}


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    def materialize(self) -> Tensor:
        span = 1 + sum((size - 1) * step for size, step in zip(self.shape, self.stride)) if all(self.shape) else 0
        return torch.randn(span, device=self.device).to(self.dtype).as_strided(self.shape, self.stride)


def describe(value: Any) -> Any:
    return TensorSpec(tuple(value.shape), tuple(value.stride()), value.dtype, value.device) if isinstance(value, Tensor) else value


class GemmRecorder(TorchDispatchMode):
    """Records every matrix product and convolution that runs inside it, as (op, args, kwargs) specs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, tuple, dict]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func.overloadpacket in GEMMS:
            self.calls.append((func, tree_map(describe, args), tree_map(describe, kwargs or {})))
        return func(*args, **(kwargs or {}))

    def signature(self) -> list[str]:
        return sorted(f"{func}{args}{kwargs}" for func, args, kwargs in self.calls)


class Roofline:
    """The recorded GEMMs of one step, on random tensors, ready to replay back to back."""

    def __init__(self, recorder: GemmRecorder) -> None:
        materialize = lambda spec: spec.materialize() if isinstance(spec, TensorSpec) else spec
        self.calls = [(func, tree_map(materialize, args), tree_map(materialize, kwargs)) for func, args, kwargs in recorder.calls]
        self.device = next((t.device for _, args, _ in self.calls for t in args if isinstance(t, Tensor)), torch.device("cpu"))
        with FlopCounterMode(display=False) as counter:
            self.replay()
        self.flop = counter.get_total_flops()

    @torch.no_grad()
    def replay(self) -> None:
        for func, args, kwargs in self.calls:
            func(*args, **kwargs)

    def seconds_per_step(self, steps: int) -> float:
        return seconds_per_step(self.replay, 1, steps, self.device)
