"""Prompt faithfulness: does a sprite drawn for "a red potion" show a red potion?

A text-to-sprite model (:mod:`diffprob.stable_diffusion`) is asked for "a <colour> <noun>"
(:func:`~diffprob.sprites.captions.colour_noun_prompts`: "a red potion", "a blue slime",
"an ice orb", ...). Each prompt names a class, often a shape variant, and the colour of
the class's main colour role. :func:`prompt_faithfulness` judges every sprite on the
three, each with a bootstrap interval (:mod:`~diffprob.evaluation.uncertainty`):

===================  ===========================================================
figure               how it is judged
===================  ===========================================================
``class_accuracy``   the sprite classifier (:mod:`~diffprob.evaluation.classifier`)
                     assigns the sprite to the prompted class
``colour_accuracy``  palette statistics: snapped to the prompted class's palette
                     (:func:`~diffprob.sprites.ground_truth.snap_to_palette`), the
                     prompted colour's shades cover more pixels than any other
                     option of the same role (:func:`judge_colours`)
``variant_accuracy`` the silhouette's 5 nearest real sprites of the prompted class
                     mostly have the prompted variant (:func:`judge_variants`);
                     only over prompts that name one ("a red potion", not
                     "a red creature")
``faithful``         all of the above at once
===================  ===========================================================

The judges are checked on the generator's own sprites: :func:`matching_sprites` draws,
for each prompt, a real sprite of exactly what it asks for, and those must score about
1 (measured: colour 1.000 on 5499 real sprites of every colour-noun prompt; variant 0.99
for slimes and ghosts, 1.00 for the other nouns). Evaluated beside the model, they are
the ``real`` row, and pure noise the chance level.

* :func:`faithfulness_prompts` -- n prompts, every colour-noun prompt equally often;
* :func:`prompt_faithfulness` -- the judgement of a set of sprites against their prompts;
* :func:`matching_sprites` -- real sprites drawn to match the prompts (the ceiling);
* :func:`judge_colours`, :func:`judge_variants` -- the two statistical judges (defined in
  :mod:`~diffprob.evaluation.prompt_judges`, importable from here too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from diffprob.errors import DataError, ParameterError
from diffprob.evaluation.prompt_judges import (
    VARIANT_BANK_SIZE,
    VARIANT_NEIGHBOURS,
    judge_colours,
    judge_variants,
)
from diffprob.evaluation.uncertainty import DEFAULT_RESAMPLES, Estimate, bootstrap_intervals
from diffprob.sprites.classes import class_index
from diffprob.util.validation import check_image_batch

__all__ = [
    "FAITHFULNESS_METRICS",
    "FaithfulnessResult",
    "prompt_faithfulness",
    "faithfulness_prompts",
    "matching_sprites",
    "judge_colours",
    "judge_variants",
    "VARIANT_BANK_SIZE",
    "VARIANT_NEIGHBOURS",
]

FAITHFULNESS_METRICS = {
    "class_accuracy": "fraction the sprite classifier assigns to the prompted class",
    "colour_accuracy": "fraction whose main colour role shows the prompted colour most "
    "(palette snapping)",
    "variant_accuracy": "fraction, of prompts naming a shape variant, whose silhouette's "
    "nearest real sprites have that variant",
    "faithful": "fraction right on class, colour and variant at once",
}
"""The figures of :func:`prompt_faithfulness` and what they measure."""

_STREAM_MATCHING = 7


# -- the prompts --------------------------------------------------------------------------------
def faithfulness_prompts(n: int, seed=0) -> list[tuple[str, dict]]:
    """n "a <colour> <noun>" prompts, each of the set equally often (to within one).

    Parameters
    ----------
    n : int
        Number of prompts (one sprite each).
    seed : int or numpy.random.Generator, optional
        Picks which prompts get the ``n % P`` extra copies (P = 77 prompts).

    Returns
    -------
    list of (str, dict)
        ``(prompt, expected)`` as :func:`~diffprob.sprites.captions.colour_noun_prompts`
        gives them, in its (grammar) order, copies side by side.

    Examples
    --------
    >>> prompts = faithfulness_prompts(154)
    >>> len(prompts), len({p for p, _ in prompts}), prompts[0][0]
    (154, 77, 'a green slime')
    """
    from diffprob.sprites.captions import colour_noun_prompts

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    every = colour_noun_prompts()
    counts = np.full(len(every), int(n) // len(every))
    extra = np.random.default_rng(seed).choice(len(every), int(n) % len(every), replace=False)
    counts[extra] += 1
    return [pair for pair, k in zip(every, counts, strict=True) for _ in range(k)]


def _expected_list(expected) -> list[dict]:
    """`expected` as a list of dicts: (prompt, dict) pairs lose their prompt."""
    out = [e[1] if isinstance(e, (tuple, list)) else e for e in expected]
    for e in out:
        if not isinstance(e, dict) or not {"class_name", "role", "colour"} <= set(e):
            raise ParameterError(
                "expected must hold dicts with class_name, variant, role and colour "
                f"(as colour_noun_prompts() gives), got {e!r}"
            )
    return out


# -- the judgement ------------------------------------------------------------------------------
@dataclass
class FaithfulnessResult:
    """What :func:`prompt_faithfulness` found, sprite by sprite and in all.

    Attributes
    ----------
    expected : list of dict
        What each sprite's prompt asked for.
    predicted_class : list of str
        The sprite classifier's class of each sprite.
    predicted_colour : list of str or None
        The option of the prompted role each sprite shows most (:func:`judge_colours`).
    predicted_variant : list of str or None
        The judged variant, None where the prompt names none.
    class_ok, colour_ok : numpy.ndarray of bool
    variant_ok : numpy.ndarray of float
        1 or 0; NaN where the prompt names no variant.
    estimates : dict
        ``{metric: Estimate}`` for :data:`FAITHFULNESS_METRICS`: the value with its
        bootstrap interval (resampled within prompts; NaN bounds without a bootstrap).
    prompts : list of str or None
        Each sprite's prompt, when `expected` was given as (prompt, dict) pairs.
    images : numpy.ndarray
        The sprites judged (not part of :meth:`to_dict`).
    """

    expected: list
    predicted_class: list
    predicted_colour: list
    predicted_variant: list
    class_ok: np.ndarray
    colour_ok: np.ndarray
    variant_ok: np.ndarray
    estimates: dict = field(default_factory=dict)
    prompts: list | None = None
    images: np.ndarray | None = field(default=None, repr=False)

    def by_noun(self) -> dict:
        """``{noun: {metric: value, "n": count}}``, the noun a prompt names ("potion",
        "slime", "creature", "spell", ...)."""
        nouns = [_noun(e) for e in self.expected]
        out = {}
        for noun in dict.fromkeys(nouns):
            idx = np.flatnonzero(np.asarray(nouns) == noun)
            row = _figures(self.class_ok, self.colour_ok, self.variant_ok, idx)
            out[noun] = {**row, "n": len(idx)}
        return out

    def to_dict(self) -> dict:
        """JSON-ready: each figure, its interval as ``<metric>_ci``, n, and the figures per noun."""
        out = {}
        for key, est in self.estimates.items():
            out[key] = est.value
            out[f"{key}_ci"] = [est.low, est.high]
        out["n"] = len(self.expected)
        out["by_noun"] = self.by_noun()
        return out


def _noun(expected: dict) -> str:
    return expected["variant"] or expected["class_name"]


def _figures(class_ok, colour_ok, variant_ok, idx) -> dict:
    variant = variant_ok[idx]
    named = variant[np.isfinite(variant)]
    return {
        "class_accuracy": float(class_ok[idx].mean()) if len(idx) else math.nan,
        "colour_accuracy": float(colour_ok[idx].mean()) if len(idx) else math.nan,
        "variant_accuracy": float(named.mean()) if len(named) else math.nan,
        "faithful": float((class_ok[idx] & colour_ok[idx] & (variant != 0)).mean())
        if len(idx)
        else math.nan,
    }


def prompt_faithfulness(
    images,
    expected,
    *,
    classifier=None,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed=0,
    variant_bank: int = VARIANT_BANK_SIZE,
) -> FaithfulnessResult:
    """Judge sprites against the "a <colour> <noun>" prompts they were drawn for.

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, H, W, 3)`` uint8 sprites, one per prompt.
    expected : sequence of dict or of (str, dict)
        What each prompt asks for: ``{"class_name", "variant" (or None), "role",
        "colour"}``, as :func:`~diffprob.sprites.captions.colour_noun_prompts` and
        :func:`faithfulness_prompts` give them.
    classifier : SpriteClassifier or path, optional
        The class judge (default: the shipped sprite classifier).
    n_bootstrap : int, optional
        Bootstrap resamples of the sprites, within each prompt (0: no intervals).
    confidence : float, optional
        Coverage of the intervals.
    seed : int or numpy.random.Generator, optional
        Seeds the bootstrap.
    variant_bank : int, optional
        Real sprites per class the variant judge compares with (:func:`judge_variants`).

    Returns
    -------
    FaithfulnessResult
        ``.estimates`` holds ``class_accuracy``, ``colour_accuracy``,
        ``variant_accuracy`` and ``faithful`` (:data:`FAITHFULNESS_METRICS`).

    Notes
    -----
    The colour is judged in the *prompted* class's palette and the variant against
    the prompted class's silhouettes, whatever class the classifier sees: a sprite of
    the wrong class is already wrong on class, and its colour still says whether the
    prompt's colour word reached the picture.

    Examples
    --------
    Real sprites drawn to match their prompts are faithful:

    >>> pairs = faithfulness_prompts(12, seed=0)
    >>> images = matching_sprites(pairs, seed=0)
    >>> result = prompt_faithfulness(images, pairs, n_bootstrap=0, variant_bank=600)
    >>> result.estimates["colour_accuracy"].value, result.estimates["class_accuracy"].value
    (1.0, 1.0)
    """
    from diffprob.evaluation.classifier import load_classifier, predict

    images = check_image_batch(images, error=ParameterError)
    expected = list(expected)
    prompts = (
        [e[0] for e in expected] if all(isinstance(e, (tuple, list)) for e in expected) else None
    )
    expected = _expected_list(expected)
    n = len(images)
    if len(expected) != n:
        raise ParameterError(f"{len(expected)} prompts for {n} images")
    if n == 0:
        raise ParameterError("no images to judge")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)):
        raise ParameterError(f"n_bootstrap must be an integer, got {n_bootstrap!r}")
    if n_bootstrap == 1 or n_bootstrap < 0:
        raise ParameterError(f"n_bootstrap must be 0 (no intervals) or >= 2, got {n_bootstrap}")
    if classifier is None or isinstance(classifier, str) or hasattr(classifier, "__fspath__"):
        classifier = load_classifier(classifier)

    predicted = predict(classifier, images)
    predicted_class = [classifier.class_names[int(p)] for p in predicted]
    class_ok = np.array(
        [p == e["class_name"] for p, e in zip(predicted_class, expected, strict=True)]
    )
    predicted_colour: list = [None] * n
    predicted_variant: list = [None] * n
    groups: dict = {}
    for i, e in enumerate(expected):
        groups.setdefault((e["class_name"], e["role"]), []).append(i)
    for (name, role), idx in groups.items():
        colours, _ = judge_colours(images[idx], name, role)
        for i, c in zip(idx, colours, strict=True):
            predicted_colour[i] = c
        named = [i for i in idx if expected[i]["variant"] is not None]
        if named:
            for i, v in zip(
                named, judge_variants(images[named], name, bank_size=variant_bank), strict=True
            ):
                predicted_variant[i] = v
    colour_ok = np.array(
        [c == e["colour"] for c, e in zip(predicted_colour, expected, strict=True)]
    )
    variant_ok = np.array(
        [
            math.nan if e["variant"] is None else float(v == e["variant"])
            for v, e in zip(predicted_variant, expected, strict=True)
        ]
    )

    def figures(idx):
        return _figures(class_ok, colour_ok, variant_ok, idx)

    if n_bootstrap:
        strata = np.array([class_index(e["class_name"]) for e in expected])
        estimates = bootstrap_intervals(
            figures,
            n,
            strata=strata,
            n_resamples=int(n_bootstrap),
            confidence=confidence,
            rng=np.random.default_rng(seed),
        )
    else:
        estimates = {
            k: Estimate(v, math.nan, math.nan, confidence) for k, v in figures(np.arange(n)).items()
        }
    return FaithfulnessResult(
        expected,
        predicted_class,
        predicted_colour,
        predicted_variant,
        class_ok,
        colour_ok,
        variant_ok,
        estimates,
        prompts if prompts else None,
        images,
    )


# -- the ceiling: real sprites of exactly what each prompt asks for -----------------------------
def matching_sprites(expected, *, size: int = 16, seed=0, max_rounds: int = 50) -> np.ndarray:
    """Generator sprites drawn to match each prompt: the class, the variant (if named) and
    the colour of the role.

    Parameters
    ----------
    expected : sequence of dict or of (str, dict)
        As for :func:`prompt_faithfulness`.
    size : int, optional
        Sprite size.
    seed : int, optional
        Seeds the draws (class by class, from ``SeedSequence([seed, 7, class])``).
    max_rounds : int, optional
        Batches drawn per class before giving up (a prompt nothing can match).

    Returns
    -------
    numpy.ndarray
        ``(len(expected), size, size, 3)`` uint8, sprite i matching ``expected[i]``;
        distinct sprites (no sprite is used twice).

    Examples
    --------
    >>> from diffprob.sprites.captions import colour_noun_prompts
    >>> matching_sprites([dict(colour_noun_prompts())["a blue slime"]] * 3).shape
    (3, 16, 16, 3)
    """
    from diffprob.sprites.attributes import generate_sprites_with_attributes
    from diffprob.sprites.captions import matches_attributes

    expected = _expected_list(expected)
    out = np.empty((len(expected), size, size, 3), np.uint8)
    by_class: dict = {}
    for i, e in enumerate(expected):
        by_class.setdefault(e["class_name"], []).append(i)
    for name, todo in by_class.items():
        rng = np.random.default_rng(
            np.random.SeedSequence([int(seed), _STREAM_MATCHING, class_index(name)])
        )
        parsed = {
            i: {
                "class_name": name,
                "variant": expected[i]["variant"],
                "colours": {expected[i]["role"]: expected[i]["colour"]},
            }
            for i in todo
        }
        for _ in range(int(max_rounds)):
            if not todo:
                break
            batch = int(min(20000, max(500, 40 * len(todo))))
            images, _, attrs = generate_sprites_with_attributes(
                batch, size=size, seed=rng, classes=[name]
            )
            free = list(range(batch))
            left = []
            for i in todo:
                j = next((j for j in free if matches_attributes(parsed[i], attrs[j])), None)
                if j is None:
                    left.append(i)
                    continue
                free.remove(j)
                out[i] = images[j]
            todo = left
        if todo:
            raise DataError(f"no generator sprite matches {expected[todo[0]]!r}")
    return out
