"""Conditioning of the reverse process: context vectors and classifier-free guidance.

The model is called as ``model(x, t / T, context)`` (the convention of
:class:`diffprob.diffusion.models.unet.ContextUnet`), with ``context`` of shape
(B, n_cfeat): one-hot, mixture weights, or all zeros (the null context, unconditional).
:func:`parse_context` and :func:`resolve_context` turn what a user writes ("hero",
"0.6*food+0.4*spell", an index, an array) into that tensor; :func:`per_class_context`
makes one block of rows per class. :func:`guided_eps` is classifier-free guidance
(Ho & Salimans 2022, eq. 6):

.. math:: \\tilde\\epsilon = (1 + w)\\,\\epsilon(x, c) - w\\,\\epsilon(x, \\varnothing).
"""

from __future__ import annotations

import re

import torch

from diffprob.diffusion.samplers.config import check_guidance
from diffprob.errors import ParameterError

__all__ = ["guided_eps", "parse_context", "per_class_context", "resolve_context"]

# One term of a context mixture: an optional "weight *" and a class name or index.
_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?([^*+]+?)\s*$")


def parse_context(spec: str | None, class_names=None, n_cfeat: int | None = None) -> torch.Tensor:
    """Turn a context description into a weight vector of length n_cfeat.

    Parameters
    ----------
    spec : str or None
        ``None``, ``""`` or ``"none"``: the null context (all zeros, unconditional).
        A class name (``"hero"``, case-insensitive) or index (``"2"``): one-hot.
        A mixture ``"0.6*food+0.4*spell"``: those weights (as given, not normalised;
        a term without a weight counts 1; repeated classes add up).
    class_names : sequence of str, optional
        Names of the context classes, in index order.
    n_cfeat : int, optional
        Length of the context vector (defaults to ``len(class_names)``).

    Returns
    -------
    torch.Tensor
        float32, shape (n_cfeat,).

    Raises
    ------
    ParameterError
        Unknown name (the message lists the class names), index out of range,
        negative or non-numeric weight, or an empty term.

    Examples
    --------
    >>> names = ("hero", "creature", "food", "spell", "item")
    >>> parse_context("food", names).tolist()
    [0.0, 0.0, 1.0, 0.0, 0.0]
    >>> [round(v, 3) for v in parse_context("0.6*food+0.4*spell", names).tolist()]
    [0.0, 0.0, 0.6, 0.4, 0.0]
    >>> parse_context(None, names).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    names = tuple(str(n) for n in class_names) if class_names is not None else ()
    if n_cfeat is None:
        if not names:
            raise ParameterError("parse_context needs class_names or n_cfeat")
        n_cfeat = len(names)
    if names and len(names) > n_cfeat:
        raise ParameterError(f"{len(names)} class names but the context has {n_cfeat} entries")
    weights = torch.zeros(n_cfeat, dtype=torch.float32)
    if spec is None or spec.strip().lower() in ("", "none", "null"):
        return weights
    lower = {n.lower(): i for i, n in enumerate(names)}
    listing = ", ".join(names) if names else f"indices 0..{n_cfeat - 1}"
    for term in spec.split("+"):
        match = _TERM.match(term)
        if match is None:
            if term.strip().startswith("-") or re.search(r"-\s*[0-9.]+\s*\*", term):
                raise ParameterError(f"context weights must be >= 0, got {term.strip()!r}")
            raise ParameterError(
                f"cannot parse context term {term.strip()!r}; use e.g. 'hero' or "
                f"'0.6*food+0.4*spell' (classes: {listing})"
            )
        weight = 1.0 if match.group(1) is None else float(match.group(1))
        label = match.group(2).strip()
        if label.isdigit():
            index = int(label)
            if index >= n_cfeat:
                raise ParameterError(f"context index {index} out of range; classes: {listing}")
        elif label.lower() in lower:
            index = lower[label.lower()]
        else:
            raise ParameterError(f"unknown context class {label!r}; classes: {listing}")
        weights[index] += weight
    return weights


def per_class_context(n_cfeat: int, per_class: int = 1) -> torch.Tensor:
    """One-hot contexts, `per_class` rows of class 0, then of class 1, ...

    With ``ncols=per_class`` a sample grid then has one row per class.

    Examples
    --------
    >>> per_class_context(3, 2).tolist()
    [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    """
    if n_cfeat < 1 or per_class < 1:
        raise ParameterError(f"need n_cfeat >= 1 and per_class >= 1, got {n_cfeat}, {per_class}")
    return torch.eye(n_cfeat).repeat_interleave(per_class, dim=0)


def resolve_context(context, n: int, *, n_cfeat=None, class_names=None) -> torch.Tensor | None:
    """Context for a batch of n: None, a float32 (n, n_cfeat) tensor, or (n, L, D) tokens.

    `context` may be None, a string (see :func:`parse_context`), an int class index, a
    vector of n_cfeat weights (used for every sample), or an (n, n_cfeat) array. A 3-D
    (n, L, D) tensor is a sequence of token features (the text U-Net's context, whose
    all-zero rows are padding): it is passed through as float32, only its batch size and
    finiteness are checked.
    """
    if context is None:
        return None
    if isinstance(context, torch.Tensor) and context.ndim == 3:
        if context.shape[0] != n:
            raise ParameterError(
                f"token context must have shape ({n}, L, D), got {tuple(context.shape)}"
            )
        context = context.to(torch.float32)
        if not torch.isfinite(context).all():
            raise ParameterError("token context must be finite")
        return context
    if isinstance(context, str):
        return parse_context(context, class_names, n_cfeat).expand(n, -1).clone()
    if isinstance(context, int) and not isinstance(context, bool):
        return parse_context(str(context), class_names, n_cfeat).expand(n, -1).clone()
    context = torch.as_tensor(context, dtype=torch.float32)
    if context.ndim == 1:
        context = context.expand(n, -1).clone()
    if context.ndim != 2 or context.shape[0] != n:
        raise ParameterError(
            f"context must have shape (n_cfeat,) or ({n}, n_cfeat), got {tuple(context.shape)}"
        )
    if n_cfeat is not None and context.shape[1] != n_cfeat:
        raise ParameterError(f"context has {context.shape[1]} entries, the model {n_cfeat}")
    if not torch.isfinite(context).all() or (context < 0).any():
        raise ParameterError("context weights must be finite and >= 0")
    return context


# -- guidance ------------------------------------------------------------------------------
def guided_eps(
    model, x: torch.Tensor, t_norm: torch.Tensor, context: torch.Tensor | None, guidance: float
) -> torch.Tensor:
    """Classifier-free guided noise prediction (Ho & Salimans 2022, eq. 6).

    Parameters
    ----------
    model : callable
        ``model(x, t_norm, context) -> eps`` (or -> v for a v-prediction model: the
        guided combination is linear, so it means the same for either output).
    x : torch.Tensor
        (B, C, H, W) noisy images.
    t_norm : torch.Tensor
        (B,) timesteps divided by T.
    context : torch.Tensor or None
        (B, n_cfeat) context weights, or (B, L, D) token features; None is the null
        context. The unconditional half uses ``torch.zeros_like(context)``.
    guidance : float
        w >= 0.

    Returns
    -------
    torch.Tensor
        :math:`\\tilde\\epsilon = (1 + w)\\,\\epsilon(x, c) - w\\,\\epsilon(x, \\varnothing)`.

    Notes
    -----
    w = 0 is the plain conditional prediction and costs one forward pass. For w > 0 the
    conditional and unconditional halves go through the model as one batch of 2B. With
    a null context (None) both terms are equal, so one pass is made whatever w.

    Examples
    --------
    >>> model = lambda x, t, c: x * (1 + c.sum(1)).view(-1, 1, 1, 1)
    >>> x = torch.ones(1, 1, 2, 2)
    >>> # eps(x, c) = 2, eps(x, null) = 1: (1 + 2) * 2 - 2 * 1 = 4
    >>> float(guided_eps(model, x, torch.zeros(1), torch.ones(1, 1), 2.0)[0, 0, 0, 0])
    4.0
    """
    w = check_guidance(guidance)
    if w == 0 or context is None:
        return model(x, t_norm, context)
    both = model(
        torch.cat([x, x]),
        torch.cat([t_norm, t_norm]),
        torch.cat([context, torch.zeros_like(context)]),
    )
    eps_cond, eps_uncond = both.chunk(2)
    return (1 + w) * eps_cond - w * eps_uncond
