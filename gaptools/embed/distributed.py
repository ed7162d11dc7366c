"""``torchrun`` support: which shards this process embeds, and waiting for the others.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) each rank embeds the shards
``k`` with ``k % world_size == rank`` into the shared work folder; after a barrier, rank 0
assembles the final file. A process group the caller already initialised is used as is;
otherwise a ``gloo`` group is started from torchrun's environment (only barriers travel
through it) and closed again afterwards.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch.distributed as dist


@contextlib.contextmanager
def process_group() -> Iterator[tuple[int, int]]:
    """Yield ``(rank, world_size)``; ``(0, 1)`` outside a distributed run."""
    if dist.is_available() and dist.is_initialized():
        yield dist.get_rank(), dist.get_world_size()
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available():
        dist.init_process_group(backend="gloo")
        try:
            yield dist.get_rank(), dist.get_world_size()
        finally:
            dist.destroy_process_group()
    else:
        yield 0, 1


def barrier(world_size: int) -> None:
    """Wait for every rank (a no-op in a single process)."""
    if world_size > 1:
        dist.barrier()
