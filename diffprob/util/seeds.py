"""Seeds: every random operation takes one, and a run without one draws one and says so."""

from __future__ import annotations

import secrets

from diffprob.errors import ParameterError

__all__ = ["MAX_SEED", "resolve_seed"]

#: Seeds are integers in [0, MAX_SEED]: what numpy's ``default_rng`` and torch's
#: ``Generator.manual_seed`` both accept (torch takes at most 64 bits).
MAX_SEED = 2**63 - 1


def resolve_seed(seed: int | None, name: str = "seed") -> int:
    """``seed`` checked, or a fresh one drawn when it is None (report it to the user).

    Examples
    --------
    >>> resolve_seed(7)
    7
    >>> 0 <= resolve_seed(None) < 2**31
    True
    >>> resolve_seed(-1)
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: seed must be in [0, 9223372036854775807], got -1
    """
    if seed is None:
        return secrets.randbelow(2**31)  # short enough to read back and type
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"{name} must be an integer, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"{name} must be in [0, {MAX_SEED}], got {seed}")
    return seed
