"""Multi-process data-parallel training with ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m diffprob train ...`` starts N copies of the
command with the environment variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR
and MASTER_PORT set. :func:`setup` reads them and joins the process group (NCCL
on CUDA, gloo on CPU); without them training runs in a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from diffprob.errors import ParameterError

__all__ = [
    "DistInfo",
    "is_main_process",
    "setup",
    "cleanup",
    "process_device",
    "wrap",
    "shard",
    "mean_",
    "any_rank",
    "from_main",
    "check_replicas_agree",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly one-process) training job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes files and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ParameterError(f"environment variable {name}={value!r} is not an integer") from None


def is_main_process() -> bool:
    """True unless torchrun launched this process with a rank other than 0."""
    return _env_int("WORLD_SIZE", 1) <= 1 or _env_int("RANK", 0) == 0


def setup(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment variables.

    Parameters
    ----------
    device_type : str
        ``"cuda"`` (NCCL backend) or anything else (gloo backend).

    Returns
    -------
    DistInfo
        ``world_size == 1`` when not launched by torchrun (nothing is initialised).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size <= 1:
        return DistInfo()
    if dist.is_initialized():  # the caller set it up (e.g. a notebook or a test)
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, False)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, True)


def cleanup(info: DistInfo) -> None:
    """Leave the process group if :func:`setup` joined it."""
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def process_device(device: torch.device, batch_size: int, info: DistInfo) -> torch.device:
    """This process's device (its own GPU, ``cuda:LOCAL_RANK``), once the batch is checked.

    Raises
    ------
    ParameterError
        The global batch does not split evenly between the processes.
    """
    if not info.enabled:
        return device
    if batch_size % info.world_size:
        raise ParameterError(
            f"batch size {batch_size} must be a multiple of the number of "
            f"processes ({info.world_size})"
        )
    if device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def wrap(model: torch.nn.Module, device: torch.device, info: DistInfo) -> torch.nn.Module:
    """`model` in DistributedDataParallel (which averages the gradients), or `model` alone.

    DDP copies rank 0's weights to every rank here, so load any saved weights first.
    """
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(global_batch: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's strided slice ``global_batch[rank::world_size]`` (along dim 0).

    Every rank draws the same global batch (indices, timesteps, noise) from the
    same seeds and keeps its slice, so N processes compute exactly the batch that
    one process would, split N ways.
    """
    return global_batch[info.rank :: info.world_size] if info.enabled else global_batch


def mean_(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Replace `tensor` by its mean over all processes, in place (a no-op in one process)."""
    if info.enabled:
        dist.all_reduce(tensor)
        tensor /= info.world_size
    return tensor


def any_rank(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """True on every process if `flag` is true on any (so that all stop at the same step)."""
    if not info.enabled:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def from_main(values: list[float], device: torch.device, info: DistInfo) -> list[float]:
    """Rank 0's `values` on every process (float64: integers up to 2**53 stay exact), so
    that all follow one plan made from one clock."""
    if not info.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def check_replicas_agree(model: torch.nn.Module, device: torch.device) -> None:
    """DDP keeps replicas identical; verify it (a cheap checksum of all weights)."""
    with torch.no_grad():
        flat = torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])
        summary = torch.stack([flat.sum(), flat.square().sum(), (flat * 1.618).sin().sum()])
        gathered = [torch.empty_like(summary) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, summary.to(device))
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f"DDP replicas ended with different weights: {gathered}")
