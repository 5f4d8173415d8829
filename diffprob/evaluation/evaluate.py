"""Score a sprite diffusion model against held-out sprites and against baselines.

:func:`evaluate` samples from a model -- the class-conditional pixel U-Net (each class
asked for with its one-hot context) or the text-to-sprite pipeline of
:mod:`diffprob.stable_diffusion` (each class asked for with its class prompt, "a hero",
"some food", ...) -- class by class, and measures the samples
with the project's own statistics, next to three baselines scored the same way
in the same run:

========================  =====================================================
group                     what it is
========================  =====================================================
``model``                 samples of the model (n split evenly over classes)
``real``                  a second real sample of the same size: what sampling
                          noise alone gives (a model within its interval is
                          indistinguishable from data by that metric)
``independent_pixel``     every pixel and channel drawn from its own training
                          marginal (:class:`diffprob.evaluation.baselines.IndependentPixelModel`):
                          right colour marginals, no shapes
``noise``                 pure N(0, I) noise, where the sampler starts
========================  =====================================================

Every group has the same number of images per class as the model's samples and
is compared with one *reference* set of held-out real sprites in the same class
proportions, large by default (:data:`DEFAULT_REFERENCE_N` fresh generator sprites),
so that a figure's noise is its own sample's; each headline figure carries a
bootstrap interval (:mod:`diffprob.evaluation.uncertainty`).

A text-to-sprite pipeline is also asked for "a <colour> <noun>" and judged for prompt
faithfulness (:mod:`diffprob.evaluation.faithfulness`), beside generator sprites drawn to
match each prompt (the ceiling) and noise (chance).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from diffprob.errors import CheckpointError, ParameterError
from diffprob.evaluation._models import TXT2IMG_DATA_SOURCE, _resolve_model, load_model_file
from diffprob.evaluation._real_data import STREAM_INDEPENDENT, STREAM_KID, STREAM_NOISE, real_sets
from diffprob.evaluation.report import EvaluationReport, run_settings
from diffprob.evaluation.uncertainty import DEFAULT_RESAMPLES

__all__ = ["evaluate", "load_model_file", "DEFAULT_N", "DEFAULT_REFERENCE_N", "TXT2IMG_DATA_SOURCE"]

DEFAULT_N = 500
"""Default number of generated sprites (100 per class for 5 classes).

Sampling 500 sprites (25 steps of the default sampler) with the ``small`` U-Net and guidance takes
about 1-2 minutes on a laptop CPU; 2000 takes four times as long. FD is biased upward at small n -- compare it only with the ``real``
row of the same run.
"""

DEFAULT_REFERENCE_N = 5000
"""Reference sprites drawn from the generator by default (at least n): sprites are
free, and against a large reference a figure's noise is its own sample's alone."""

_FAITHFULNESS_KEY = 5  # SeedSequence([seed, 5, ...]): the faithfulness run's own streams


def evaluate(
    model=None,
    *,
    n: int = DEFAULT_N,
    config=None,
    seed: int = 0,
    n_reference: int | None = None,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    reference=None,
    train=None,
    classifier=None,
    pmf_bins: int = 32,
    joint_bins: int = 32,
    kid_subset_size: int = 1000,
    kid_subsets: int = 100,
    batch_size: int = 500,
    device="cpu",
    progress: bool = False,
    n_faithfulness: int | None = None,
    **sampler_options,
) -> EvaluationReport:
    """Sample from a model and score the samples and three baselines against held-out sprites.

    Parameters
    ----------
    model : str, Path, Checkpoint, Txt2ImgPipeline or tuple, optional
        A checkpoint path, a loaded :class:`~diffprob.diffusion.checkpoint.Checkpoint`,
        ``(model, schedule, class_names[, data_source])`` (as returned by
        :func:`~diffprob.diffusion.checkpoint.load_model`), or a text-to-sprite
        :class:`~diffprob.stable_diffusion.pipeline.Txt2ImgPipeline` or the path of one
        (told apart by the file's ``format``). None: the shipped pixel checkpoint.
    n : int, optional
        Number of samples, split evenly over the classes (default
        :data:`DEFAULT_N` = 500). Every baseline and the reference set get the
        same per-class counts.
    config : SamplerConfig, optional
        How to sample (:class:`~diffprob.diffusion.samplers.config.SamplerConfig`:
        sampler, steps, spacing, eta, guidance); default ``SamplerConfig()``, with a
        pipeline's own guidance weight when neither `config` nor ``guidance=`` gives one.
    **sampler_options
        Its settings as keywords (``sampler="dpmpp-2m"``, ``steps=50``, ``guidance=2``,
        ...), which override `config`'s.
    seed : int, optional
        Seeds the sampler, the held-out sets, the baselines, KID's subsets and the
        bootstrap.
    n_reference : int, optional
        Size of the reference set every group is compared with, split over classes in
        the model's proportions. Default: with the generator,
        ``max(DEFAULT_REFERENCE_N, n)`` fresh sprites; with a given `reference`, all
        its images left after the ``real`` group (in the same class proportions).
    n_bootstrap : int, optional
        Bootstrap resamples for the intervals of the headline metrics (0: none); see
        :mod:`diffprob.evaluation.uncertainty`.
    confidence : float, optional
        Coverage of those intervals.
    reference : SpriteData or (images, labels), optional
        Held-out real sprites, at least ``2 * ceil(n / K)`` of each class (split
        into the ``real`` group and the reference set). Default: fresh sprites
        from the embedded generator, if the model was trained on it.
    train : SpriteData or (images, labels), optional
        The model's training set, for the memorisation distances and the
        independent-pixel baseline. Default: rebuilt from the checkpoint's data
        source.
    classifier : SpriteClassifier or path, optional
        Default: the shipped classifier (:func:`~diffprob.evaluation.classifier.load_classifier`).
    pmf_bins : int, optional
        Bins of the per-channel colour PMFs (default 32, 8 levels each). The real
        sprites use a few exact palette values; a generative model lands within a
        few levels of them, which 256 bins would count as entirely different colours
        (TV near 1 for a model that looks right). Pass 256 for the exact-level PMFs.
    joint_bins : int, optional
        Bins per axis of the joint-channel histograms (256^2 bins would be mostly
        empty at sprite scale).
    kid_subset_size, kid_subsets : int, optional
        See :func:`~diffprob.evaluation.kernel_mmd.kernel_distance`.
    batch_size : int, optional
        Samples drawn per sampler call.
    device : str or torch.device, optional
    progress : bool, optional
        Show tqdm progress bars on stderr.
    n_faithfulness : int, optional
        A pipeline only: "a <colour> <noun>" prompts to judge for prompt faithfulness
        (:func:`~diffprob.evaluation.faithfulness.faithfulness_prompts`; default n, 0:
        none). The report's ``faithfulness`` then holds the model, ``real`` (generator
        sprites drawn to match each prompt) and ``noise`` rows.

    Returns
    -------
    EvaluationReport

    Notes
    -----
    Every group (:data:`~diffprob.evaluation.report.GROUPS`) is compared with the same reference set:

    * colour: per-channel PMFs over ``pmf_bins`` bins (:func:`~diffprob.channel_histograms`)
      and R-G, G-B, R-B joint PMFs over ``joint_bins``^2 bins
      (:func:`~diffprob.joint_histogram`), compared by total variation,
      Jensen--Shannon divergence (bits) and Wasserstein-1;
    * the classifier: conditional accuracy, and FD and KID between the
      penultimate features of the group and of the reference set;
    * memorisation: RMS pixel distance of each image to its nearest training
      sprite (:func:`~diffprob.evaluation.sample_distances.nearest_neighbor_distances`).

    Every distance between finite samples is positive even for two samples of
    the same distribution; the ``real`` row measures what that gives at this n. FD in
    particular is **biased upward** at small n (by roughly tr(Sigma)/n per set);
    KID is unbiased; because every set holds a fixed number of each class, it is
    computed stratified by class (``strata`` of :func:`~diffprob.evaluation.kernel_mmd.kernel_distance`),
    without which it would sit below 0 by an amount that grows as n shrinks. Compare FD
    only across runs with the same n.

    Examples
    --------
    A tiny untrained model, for speed (its samples are noise-like):

    >>> from diffprob.diffusion.models.unet import ContextUnet
    >>> from diffprob.diffusion.schedule import NoiseSchedule
    >>> from diffprob.sprites.classes import CLASSES
    >>> net = ContextUnet("tiny").eval()
    >>> src = "sprites(n=200, size=16, seed=0)"
    >>> report = evaluate((net, NoiseSchedule(20), CLASSES, src), n=10, steps=2, kid_subsets=2)
    >>> report.settings["n_per_class"], list(report.overall)
    ([2, 2, 2, 2, 2], ['model', 'real', 'independent_pixel', 'noise'])
    >>> report.overall["real"]["accuracy"]
    1.0
    """
    # Imported here, not above: the command line reads DEFAULT_N from this module
    # and should not pay for scipy and torch to print its help.
    from diffprob.evaluation._scoring import MetricSettings, score_groups

    t_start = time.perf_counter()
    from diffprob.diffusion.samplers.config import SamplerConfig

    guidance_given = config is not None or "guidance" in sampler_options
    config = SamplerConfig.from_options(config, **sampler_options)
    _check_arguments(n, pmf_bins, joint_bins, batch_size, n_reference, n_bootstrap, confidence)
    n_faithfulness = n if n_faithfulness is None else n_faithfulness
    if isinstance(n_faithfulness, bool) or not isinstance(n_faithfulness, (int, np.integer)):
        raise ParameterError(f"n_faithfulness must be an integer >= 0, got {n_faithfulness!r}")
    if n_faithfulness < 0:
        raise ParameterError(f"n_faithfulness must be an integer >= 0, got {n_faithfulness}")

    # 1. The model, and the classifier that judges its samples.
    strategy = _resolve_model(model, device)
    config = strategy.sampler_config(config, guidance_given)
    class_names, source, size = strategy.class_names, strategy.data_source, strategy.image_size
    classifier, classifier_label = _resolve_classifier(classifier, class_names, size, device)

    # 2. Real sprites: the reference set, the "real" group and the training set.
    counts = _class_counts(int(n), len(class_names))
    reference, real, train = real_sets(
        reference, train, counts, n_reference, size, int(seed), source
    )

    # 3. The model's samples, the same number per class as every other set.
    gen_labels = np.repeat(np.arange(len(class_names)), counts)
    draw = dict(config=config, batch_size=int(batch_size), device=device, progress=progress)
    t_sample = time.perf_counter()
    gen_images = strategy.sample(gen_labels, seed=seed, **draw)
    sample_seconds = time.perf_counter() - t_sample

    # 4. Every group beside its baselines, scored against the reference set.
    images, labels = _groups((gen_images, gen_labels), real, reference, train, size, seed)
    kid_seed = int(_stream(seed, STREAM_KID).generate_state(1)[0])
    metrics = MetricSettings(
        pmf_bins, joint_bins, kid_subset_size, kid_subsets, kid_seed, n_bootstrap, confidence
    )
    overall, per_class, intervals = score_groups(
        images, labels, train[0], classifier, class_names, metrics, _stream(seed, STREAM_KID)
    )

    # 5. A text-to-sprite model: "a <colour> <noun>" prompts, judged for faithfulness.
    faithfulness, faithfulness_seconds = {}, 0.0
    if strategy.kind == "txt2img" and n_faithfulness:
        t_faith = time.perf_counter()
        faithfulness = _faithfulness(
            strategy, int(n_faithfulness), classifier, size, seed, metrics, draw
        )
        faithfulness_seconds = time.perf_counter() - t_faith

    # 6. The report.
    settings = run_settings(
        n=n,
        counts=counts,
        config=config,
        steps=_steps_used(config, strategy.schedule),
        seed=seed,
        n_reference=len(reference[0]),
        n_train=len(train[0]),
        checkpoint=strategy.label,
        data_source=source,
        classifier=classifier,
        classifier_label=classifier_label,
        image_size=size,
        metrics=metrics,
        device=device,
    )
    settings["model_kind"] = strategy.kind
    if strategy.kind == "txt2img":
        settings["prompts"] = {name: strategy.prompt(name) for name in class_names}
        settings["n_faithfulness"] = int(n_faithfulness)
    timings = {
        "sampling_s": sample_seconds,
        "sampling_s_per_image": sample_seconds / int(n),
        "total_s": time.perf_counter() - t_start,
    }
    if faithfulness:
        timings["faithfulness_s"] = faithfulness_seconds
    return EvaluationReport(
        settings,
        tuple(class_names),
        overall,
        per_class,
        timings,
        intervals,
        images,
        labels,
        faithfulness=faithfulness,
    )


# -- arguments --------------------------------------------------------------------------------
def _check_arguments(n, pmf_bins, joint_bins, batch_size, n_reference, n_bootstrap, confidence):
    for name, value, low in (
        ("n", n, 1),
        ("n_reference", n_reference, 1),
        ("n_bootstrap", n_bootstrap, 0),
    ):
        if value is None and name == "n_reference":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    if n_bootstrap == 1:
        raise ParameterError("n_bootstrap must be 0 (no intervals) or >= 2, got 1")
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence}")
    if int(pmf_bins) < 1 or int(pmf_bins) > 256:
        raise ParameterError(f"pmf_bins must be in [1, 256], got {pmf_bins}")
    if int(joint_bins) < 1 or int(joint_bins) > 256:
        raise ParameterError(f"joint_bins must be in [1, 256], got {joint_bins}")
    if int(batch_size) < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")


# -- 1. the model (diffprob.evaluation._models) and the classifier ---------------------------
def _resolve_classifier(classifier, class_names, size, device):
    """(classifier on `device` in eval mode, its label), checked against the model."""
    from diffprob.evaluation.classifier import load_classifier

    if classifier is None or isinstance(classifier, (str, Path)):
        classifier_label = "shipped" if classifier is None else str(classifier)
        classifier = load_classifier(classifier, device=device)
    else:
        classifier_label = "<SpriteClassifier>"
        classifier = classifier.to(device).eval()
    if tuple(classifier.class_names) != tuple(class_names):
        raise CheckpointError(
            f"the classifier knows classes {list(classifier.class_names)}, the model "
            f"{list(class_names)}; train a classifier for this data with 'diffprob classifier train'"
        )
    if classifier.image_size != size:
        raise CheckpointError(
            f"the classifier was trained on {classifier.image_size}x{classifier.image_size} "
            f"sprites, the model makes {size}x{size}; train one with "
            f"'diffprob classifier train --size {size}'"
        )
    return classifier, classifier_label


# -- 2. real sprites (diffprob.evaluation._real_data) -------------------------------------------
def _class_counts(n: int, n_classes: int) -> np.ndarray:
    """n split evenly over classes; the first n % K classes get one more."""
    counts = np.full(n_classes, n // n_classes, dtype=np.int64)
    counts[: n % n_classes] += 1
    return counts


# -- 3. the model's samples ---------------------------------------------------------------------
def _sample_model(
    net,
    schedule,
    labels,
    n_classes,
    *,
    config,
    seed,
    batch_size,
    device,
    progress,
):
    """uint8 samples of a pixel U-Net, sample i of class ``labels[i]`` (one-hot context)."""
    import torch

    from diffprob.diffusion.model_range import from_model_range
    from diffprob.diffusion.sampling import sample

    generator = torch.Generator().manual_seed(int(seed))
    context = torch.eye(n_classes)[torch.from_numpy(labels)]
    chunks = []
    for start in range(0, len(labels), batch_size):
        ctx = context[start : start + batch_size]
        result = sample(
            net,
            schedule,
            len(ctx),
            context=ctx,
            config=config,
            generator=generator,
            device=device,
            progress=progress,
        )
        chunks.append(from_model_range(result.images))
    return np.concatenate(chunks)


def _steps_used(config, schedule) -> int:
    """The number of steps the sampler takes: `steps`, or its default for this schedule."""
    from diffprob.diffusion.samplers.config import DEFAULT_DDIM_STEPS

    if config.steps is not None:
        return int(config.steps)
    if config.sampler == "ddpm":
        return int(schedule.num_timesteps)
    return min(DEFAULT_DDIM_STEPS, int(schedule.num_timesteps))


# -- 4. the groups -------------------------------------------------------------------------------
def _stream(seed, key: int) -> np.random.SeedSequence:
    """The independent random stream `key` of ``seed`` (the same on every call)."""
    return np.random.SeedSequence(int(seed)).spawn(5)[key]


def _groups(model, real, reference, train, size, seed):
    """(images, labels): dicts keyed by :data:`~diffprob.evaluation.report.GROUPS` and ``"reference"``.

    The baselines get the model's labels: the same number per class.
    """
    from diffprob.evaluation.baselines import IndependentPixelModel, pure_noise

    gen_images, gen_labels = model
    independent = IndependentPixelModel(*train)
    images = {
        "model": gen_images,
        "real": real[0],
        "independent_pixel": independent.sample(
            labels=gen_labels, rng=_stream(seed, STREAM_INDEPENDENT)
        ),
        "noise": pure_noise(len(gen_labels), size, rng=_stream(seed, STREAM_NOISE)),
        "reference": reference[0],
    }
    labels = {
        "model": gen_labels,
        "real": real[1],
        "independent_pixel": gen_labels,
        "noise": gen_labels,
        "reference": reference[1],
    }
    return images, labels


# -- 5. prompt faithfulness -----------------------------------------------------------------------
def _faithfulness(strategy, n, classifier, size, seed, metrics, draw) -> dict:
    """``{"model", "real", "noise"}`` -> FaithfulnessResult on n "a <colour> <noun>" prompts."""
    from diffprob.evaluation.baselines import pure_noise
    from diffprob.evaluation.faithfulness import (
        faithfulness_prompts,
        matching_sprites,
        prompt_faithfulness,
    )

    def stream(key: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([int(seed), _FAITHFULNESS_KEY, key])

    pairs = faithfulness_prompts(n, seed=np.random.default_rng(stream(0)))
    prompts = [p for p, _ in pairs]
    sample_seed = int(stream(1).generate_state(1)[0])
    images = {
        "model": strategy.prompted(prompts, seed=sample_seed, **draw),
        "real": matching_sprites(pairs, size=size, seed=int(stream(2).generate_state(1)[0])),
        "noise": pure_noise(n, size, rng=np.random.default_rng(stream(3))),
    }
    return {
        group: prompt_faithfulness(
            im,
            pairs,
            classifier=classifier,
            n_bootstrap=metrics.n_bootstrap,
            confidence=metrics.confidence,
            seed=np.random.default_rng(stream(4 + i)),
        )
        for i, (group, im) in enumerate(images.items())
    }
