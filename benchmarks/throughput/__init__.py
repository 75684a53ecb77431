"""Pieces of ``benchmarks/train_throughput.py``: the plain loop, the GEMM roofline, step timing."""
