"""Scoring under ``torchrun``: which process this is, its device, and moving results between processes.

``torchrun --nproc_per_node=N`` (on one or several nodes) sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``; the process group is joined here (nccl with GPUs,
gloo on CPUs) unless the caller already did. Results travel as Python objects
(``all_gather_object``), small next to the audio they summarise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch


@dataclass
class ProcessGroup:
    """This process's place among the scoring processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    joined_here: bool = False

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes the output and shows progress."""
        return self.rank == 0


def resolve_device(request: str, local_rank: int = 0) -> torch.device:
    """``auto`` is this process's GPU (``cuda:LOCAL_RANK``) when there is one, else the CPU."""
    if request == "auto":
        request = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(request)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return device


def join(device_request: str = "auto") -> tuple[ProcessGroup, torch.device]:
    """This process's group and device: from ``torch.distributed`` or ``torchrun``'s environment."""
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if dist.is_available() and dist.is_initialized():
        group = ProcessGroup(dist.get_rank(), dist.get_world_size(), local_rank, local_world)
        return group, resolve_device(device_request, local_rank)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_request, local_rank)
    if world <= 1:
        return ProcessGroup(), device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # Batches take minutes on a slow CPU; the default 30-minute collective timeout is kept as the floor.
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), local_rank, local_world, joined_here=True), device


def leave(group: ProcessGroup) -> None:
    if group.joined_here:
        import torch.distributed as dist

        dist.destroy_process_group()


def all_gather(value, group: ProcessGroup) -> list:
    """``value`` from every process, in rank order (``[value]`` for one process)."""
    if group.world == 1:
        return [value]
    import torch.distributed as dist

    gathered = [None] * group.world
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast(value, group: ProcessGroup):
    """Rank 0's ``value`` on every process."""
    if group.world == 1:
        return value
    import torch.distributed as dist

    holder = [value if group.rank == 0 else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
