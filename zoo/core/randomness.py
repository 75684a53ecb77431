"""Random streams per rank, and their exact save and restore.

LightningCLI seeds every rank with the same global seed. A GAN draws its noise, dropout masks and
other in-step randomness from the global RNG, so without care every rank draws the same z: G's
effective batch stays B instead of W·B, and D sees W copies of one fake batch. At the start of
training each rank r > 0 therefore reseeds from (seed, r); rank 0 keeps the global seed's stream,
so a one-process run is unchanged. Checkpoints keep every rank's state, so resume is exact per rank.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def rank_seed(base_seed: int, rank: int) -> int:
    """A seed for ``rank`` that differs from every other (base, rank) pair's in practice."""
    digest = hashlib.sha256(f"zoo-rank-stream:{base_seed}:{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**63 - 1)


def seed_rank_stream(rank: int) -> None:
    """Give ``rank`` its own global RNG stream, derived from the seed the run started with."""
    if rank > 0:
        torch.manual_seed(rank_seed(torch.initial_seed(), rank))


def collect_rng_states(strategy: Any, device: torch.device) -> dict[str, Any]:
    """Every rank's CPU (and current CUDA device's) RNG state, gathered on all ranks."""
    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    world_size = getattr(strategy, "world_size", 1) if strategy is not None else 1
    if world_size == 1:
        return {"world_size": 1, **{k: [v] for k, v in states.items()}}
    gathered: dict[str, Any] = {"world_size": world_size}
    for name, state in states.items():
        # Collectives move int tensors of any backend; uint8 is not supported everywhere.
        stacked = strategy.all_gather(state.to(device=device, dtype=torch.int32))
        gathered[name] = [row.to("cpu", torch.uint8) for row in stacked]
    return gathered


def restore_rng_states(states: dict[str, Any], rank: int, world_size: int, device: torch.device) -> bool:
    """Restore this rank's saved stream; ``False`` when the checkpoint came from another world size."""
    if states.get("world_size") != world_size:
        return False
    torch.set_rng_state(states["cpu"][rank])
    if device.type == "cuda" and states.get("cuda"):
        torch.cuda.set_rng_state(states["cuda"][rank], device)
    return True
