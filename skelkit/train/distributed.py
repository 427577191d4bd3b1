"""Distributed data parallel under ``torchrun``: environment detection and helpers.

A run is distributed when ``torchrun`` (or a cluster launcher that sets the same
variables) exported ``WORLD_SIZE > 1``: each process joins the default process group
(NCCL on CUDA, gloo on CPU), uses the GPU ``LOCAL_RANK``, and wraps the method in
:class:`torch.nn.parallel.DistributedDataParallel`. Only rank 0 writes files.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from skelkit.errors import ConfigError
from skelkit.train.distenv import DistEnv, detect

__all__ = ["DistEnv", "detect"]


def select_device(requested: str, env: DistEnv) -> torch.device:
    """The device of this process for ``train.device`` = auto | cpu | cuda."""
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available; use --device cpu")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        index = env.local_rank % max(torch.cuda.device_count(), 1)
        return torch.device("cuda", index)
    return torch.device("cpu")


def init_process_group(env: DistEnv, device: torch.device) -> None:
    """Join the default process group (NCCL on CUDA, gloo on CPU) when distributed."""
    if not env.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
    else:
        dist.init_process_group(backend="gloo")


def shutdown() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, env: DistEnv, device: torch.device, find_unused: bool) -> nn.Module:
    """Wrap ``model`` in DDP when distributed; return it unchanged otherwise."""
    if not env.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or ``model`` itself)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def all_reduce_sum(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (a no-op in one process) and return it."""
    if env.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """Whether ``flag`` is true on any rank."""
    if not env.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def barrier(env: DistEnv) -> None:
    """Wait for every rank."""
    if env.enabled:
        dist.barrier()


def broadcast_object(obj: Any, env: DistEnv) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not env.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
