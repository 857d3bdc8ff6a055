"""Several processes: the torch.distributed process group that torchrun or RecBole's launcher starts.

One process group serves every stage: table export and SCFT shard the items over the ranks,
RAT trains under RecBole's DDP. Rank 0 owns the files (locks, records, renames, reports); the
others wait at a barrier and read what it wrote (``saved/`` must be one folder for all ranks).
Backend: nccl on GPUs, gloo on CPUs (RecBole 1.2.1 would always ask for nccl).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes files."""
    return rank() == 0


def backend_for(device: torch.device | str) -> str:
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    """torchrun (and ``accelerate launch``) set these for every process they start."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and "MASTER_ADDR" in os.environ


def init_from_environment() -> bool:
    """Join the process group torchrun describes (``env://``), once; True when running distributed."""
    if is_distributed():
        return True
    if not launched_by_torchrun():
        return False
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend_for(device), init_method="env://")
    return True


def local_rank() -> int:
    """This process's index on its machine (its GPU): torchrun's LOCAL_RANK, else the rank (one machine)."""
    return int(os.environ.get("LOCAL_RANK", rank())) if is_distributed() else 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def agree(value):
    """Rank 0's ``value`` on every rank: decisions that must not differ (is a cached file there?)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_to_main(obj) -> list | None:
    """Every rank's ``obj`` in rank order on rank 0 (None on the others): big arrays stay off them."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def gather_to_all(obj) -> list:
    """Every rank's ``obj`` (any picklable), in rank order, on every rank."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def spawn_processes(nproc: int, function, *args):
    """RecBole's launcher: ``function(*args)`` in ``nproc`` processes on this machine, each told its
    rank through ``config_dict`` (``local_rank``, ``world_size``, ``ip``, ``port``); rank 0's return value.

    ``args[3]`` is the ``config_dict`` of the quick-start functions.
    """
    import torch.multiprocessing as mp

    settings = dict(args[3] or {})
    settings.update(nproc=nproc, world_size=nproc, ip=settings.get("ip", "localhost"), offset=0)
    settings["port"] = str(settings.get("port") or free_port())
    queue = mp.get_context("spawn").SimpleQueue()
    arguments = (*args[:3], settings, *args[4:])
    mp.spawn(_spawned, args=(function, arguments, queue), nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def _spawned(process: int, function, args: tuple, queue) -> None:
    args[3]["local_rank"] = process
    try:
        outcome = function(*args)
        if process == 0:
            queue.put(outcome)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def free_port() -> int:
    """A TCP port nobody listens on now (for the processes' rendezvous on this machine)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]
