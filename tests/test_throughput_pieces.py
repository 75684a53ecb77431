"""The pieces of ``benchmarks/train_throughput.py`` (``benchmarks/throughput/``), each on its own:
step timing, the GEMM recorder and its roofline replay, the plain loop's batches. The benchmark's
smoke run (tests/test_benchmarks.py) runs them together."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import torch

from benchmarks.throughput import timing
from benchmarks.throughput.plain_loop import plain_batches
from benchmarks.throughput.roofline import GemmRecorder, Roofline


def test_seconds_per_step_times_only_the_steps_after_the_warmup(monkeypatch):
    clock = itertools.count(start=100.0, step=0.5)  # every reading of the clock moves it by 0.5 s
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: next(clock)))  # this module's clock only
    calls = []
    seconds = timing.seconds_per_step(lambda: calls.append(1), warmup=3, steps=4, device=torch.device("cpu"))
    assert len(calls) == 3 + 4
    assert seconds == 0.5 / 4  # two readings, around the timed steps only


def test_the_recorder_keeps_each_matrix_product_and_the_roofline_replays_it_with_its_flops():
    a, b = torch.randn(4, 6), torch.randn(6, 5)
    with GemmRecorder() as recorder:
        product = a @ b
        _ = torch.relu(product)  # not a GEMM: not recorded
    assert len(recorder.calls) == 1 and "mm" in str(recorder.calls[0][0])
    roofline = Roofline(recorder)
    assert roofline.flop == 2 * 4 * 6 * 5
    (func, (left, right), _), = roofline.calls
    assert (left.shape, right.shape) == (a.shape, b.shape) and not torch.equal(left, a)  # random tensors of the same shapes
    assert roofline.seconds_per_step(2) > 0


def test_plain_batches_cover_a_fresh_permutation_each_pass_and_drop_the_remainder():
    samples = torch.arange(10)
    batches = plain_batches(samples, batch_size=3)
    first_pass = torch.cat([next(batches) for _ in range(3)])
    second_pass = torch.cat([next(batches) for _ in range(3)])
    assert len(set(first_pass.tolist())) == 9 and len(set(second_pass.tolist())) == 9  # no repeats within a pass
    assert not torch.equal(first_pass, second_pass)
