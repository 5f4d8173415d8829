"""Denoisers that each own a range of noise levels (an ensemble of expert denoisers).

One network has to serve every timestep, from pure noise, where it decides what to draw,
down to t = 1, where its whole job is to put each pixel exactly on its colour. eDiff-I
(Balaji et al. 2022, "eDiff-I: Text-to-Image Diffusion Models with an Ensemble of Expert
Denoisers") splits the timesteps between networks fine-tuned from one base: each expert
trains only on its own interval and so spends all its capacity there.

Here the split is the simplest one: a *low-noise expert* trained with ``t_max``
(``diffprob train --t-max``) answers for ``t <= t_max`` and the base network for the
rest. :class:`NoiseLevelExperts` is called exactly like a U-Net, so the samplers,
:func:`diffprob.evaluate` and :func:`diffprob.denoising_error` use it unchanged, and
:func:`add_experts` stores the experts inside the base checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import nn

from diffprob.diffusion.models.unet import check_model_inputs
from diffprob.errors import CheckpointError, ParameterError

__all__ = ["NoiseLevelExperts", "add_experts"]


class NoiseLevelExperts(nn.Module):
    """A base network plus experts for the low timesteps, called like one U-Net.

    Parameters
    ----------
    base : torch.nn.Module
        ``base(x, t / T, context)``; answers for every t no expert covers. Its ``config``
        becomes this module's.
    experts : sequence of (int, torch.nn.Module)
        ``(t_max, network)`` pairs with distinct ``t_max`` in [1, T): the network with
        the smallest ``t_max >= t`` answers at t.
    num_timesteps : int
        T of the schedule, to turn the ``t / T`` the networks are given back into t.

    Examples
    --------
    >>> from diffprob.diffusion.models.unet import build_unet
    >>> base, low = build_unet("tiny"), build_unet("tiny")
    >>> model = NoiseLevelExperts(base, [(20, low)], num_timesteps=500).eval()
    >>> x = torch.zeros(2, 3, 16, 16)
    >>> torch.equal(model(x, torch.tensor([20 / 500, 21 / 500])), torch.cat(
    ...     [low(x[:1], torch.tensor([20 / 500])), base(x[1:], torch.tensor([21 / 500]))]))
    True
    >>> model.t_max
    [20]
    """

    def __init__(self, base: nn.Module, experts: Sequence[tuple[int, nn.Module]], num_timesteps):
        super().__init__()
        experts = sorted(experts, key=lambda pair: pair[0])
        t_max = [int(t) for t, _ in experts]
        if not experts:
            raise ParameterError("give at least one (t_max, network) expert")
        if len(set(t_max)) != len(t_max) or not 1 <= t_max[0] <= t_max[-1] < num_timesteps:
            raise ParameterError(
                f"expert t_max values must be distinct and in [1, {num_timesteps - 1}], got {t_max}"
            )
        self.config = base.config
        self.num_timesteps = int(num_timesteps)
        self.t_max = t_max
        # Experts in t order, then the base: network i answers for t in (t_max[i-1], t_max[i]].
        self.networks = nn.ModuleList([network for _, network in experts] + [base])
        self.register_buffer("_bounds", torch.tensor(t_max), persistent=False)

    @property
    def base(self) -> nn.Module:
        return self.networks[-1]

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        t, context = check_model_inputs(self.config, x, t, context)
        steps = torch.round(t.double() * self.num_timesteps).long()
        which = torch.bucketize(steps, self._bounds)  # a buffer: already on the module's device
        first = int(which[0])
        if bool((which == first).all()):  # a sampler's batch: one timestep, one network
            return self.networks[first](x, t, context)
        out = None
        for index in which.unique().tolist():
            rows = which == index
            part = self.networks[index](x[rows], t[rows], context[rows])
            if out is None:
                out = part.new_empty((len(x), *part.shape[1:]))
            out[rows] = part
        return out


def add_experts(base, experts: Sequence, *, t_max: Sequence[int] | None = None):
    """The base checkpoint with low-noise experts stored inside it.

    Parameters
    ----------
    base : Checkpoint
        The network for every timestep (its EMA weights when it has them, else its raw
        ones; optimizer state is dropped).
    experts : sequence of Checkpoint
        Networks fine-tuned from the base with ``TrainConfig.t_max`` set: the same model,
        schedule, classes and data.
    t_max : sequence of int, optional
        The timestep up to which each expert answers; default its training ``t_max``.
        An expert is never asked for more than it was trained on.

    Returns
    -------
    Checkpoint
        Its :meth:`~diffprob.diffusion.checkpoint.Checkpoint.build_model` returns a
        :class:`NoiseLevelExperts`; save it with ``.save(path)``.

    Raises
    ------
    CheckpointError
        An expert does not fit the base, was trained on all timesteps, or two experts
        share a ``t_max``.
    """
    from diffprob.diffusion.checkpoint import describe_mismatch

    if not experts:
        raise ParameterError("give at least one expert checkpoint")
    if t_max is not None and len(t_max) != len(experts):
        raise ParameterError(f"got {len(t_max)} t_max values for {len(experts)} experts")
    if base.experts:
        raise CheckpointError("the base checkpoint already holds experts")
    entries = []
    for i, expert in enumerate(experts):
        trained = (expert.train_config or {}).get("t_max")
        if trained is None:
            raise CheckpointError(
                f"expert {i + 1} was trained on all timesteps; train it with --t-max"
            )
        # Messages speak from the expert: "<its value> in the checkpoint but <the base's> requested"
        for kind, in_base, in_expert in (
            ("model config", base.unet_config.to_dict(), expert.unet_config.to_dict()),
            (
                "schedule",
                base.build_schedule().config.to_dict(),
                expert.build_schedule().config.to_dict(),
            ),
            ("classes", {"names": base.class_names}, {"names": expert.class_names}),
            ("data", {"source": base.data_source}, {"source": expert.data_source}),
        ):
            problem = describe_mismatch(kind, in_expert, in_base)
            if problem:
                raise CheckpointError(f"expert {i + 1} does not fit the base: {problem}")
        bound = trained if t_max is None else int(t_max[i])
        if not 1 <= bound <= trained:
            raise ParameterError(
                f"expert {i + 1} was trained on t <= {trained}; its t_max must be in "
                f"[1, {trained}], got {bound}"
            )
        weights = expert.ema_state if expert.ema_state is not None else expert.model_state
        entries.append(
            {
                "t_max": int(bound),
                "ema_state": weights,
                "step": expert.step,
                "train_config": expert.train_config,
                "metadata": expert.metadata,
            }
        )
    bounds = [entry["t_max"] for entry in entries]
    if len(set(bounds)) != len(bounds):
        raise CheckpointError(f"two experts share a t_max: {bounds}")
    inference = base.for_inference(ema_only=base.ema_state is not None)
    return dataclasses.replace(inference, experts=entries)
