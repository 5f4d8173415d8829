"""Score a sprite diffusion model against held-out sprites and against baselines.

:func:`evaluate` samples from a model, class by class, and measures the samples
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
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from diffprob.errors import CheckpointError, ParameterError
from diffprob.evaluation._real_data import STREAM_INDEPENDENT, STREAM_KID, STREAM_NOISE, real_sets
from diffprob.evaluation.report import EvaluationReport, run_settings
from diffprob.evaluation.uncertainty import DEFAULT_RESAMPLES

__all__ = ["evaluate", "DEFAULT_N", "DEFAULT_REFERENCE_N"]

DEFAULT_N = 500
"""Default number of generated sprites (100 per class for 5 classes).

Sampling 500 sprites (25 steps of the default sampler) with the ``small`` U-Net and guidance takes
about 1-2 minutes on a laptop CPU; 2000 takes four times as long. FD is biased upward at small n -- compare it only with the ``real``
row of the same run.
"""

DEFAULT_REFERENCE_N = 5000
"""Reference sprites drawn from the generator by default (at least n): sprites are
free, and against a large reference a figure's noise is its own sample's alone."""


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
    **sampler_options,
) -> EvaluationReport:
    """Sample from a model and score the samples and three baselines against held-out sprites.

    Parameters
    ----------
    model : str, Path, Checkpoint or tuple, optional
        A checkpoint path, a loaded :class:`~diffprob.diffusion.checkpoint.Checkpoint`, or
        ``(model, schedule, class_names[, data_source])`` (as returned by
        :func:`~diffprob.diffusion.checkpoint.load_model`). None: the shipped checkpoint.
    n : int, optional
        Number of samples, split evenly over the classes (default
        :data:`DEFAULT_N` = 500). Every baseline and the reference set get the
        same per-class counts.
    config : SamplerConfig, optional
        How to sample (:class:`~diffprob.diffusion.samplers.config.SamplerConfig`:
        sampler, steps, spacing, eta, guidance); default ``SamplerConfig()``.
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

    config = SamplerConfig.from_options(config, **sampler_options)
    _check_arguments(n, pmf_bins, joint_bins, batch_size, n_reference, n_bootstrap, confidence)

    # 1. The model, and the classifier that judges its samples.
    net, schedule, class_names, source, ckpt_label = _resolve_model(model, device)
    size = int(getattr(getattr(net, "config", None), "image_size", 16))
    classifier, classifier_label = _resolve_classifier(classifier, class_names, size, device)

    # 2. Real sprites: the reference set, the "real" group and the training set.
    counts = _class_counts(int(n), len(class_names))
    reference, real, train = real_sets(
        reference, train, counts, n_reference, size, int(seed), source
    )

    # 3. The model's samples, the same number per class as every other set.
    gen_labels = np.repeat(np.arange(len(class_names)), counts)
    t_sample = time.perf_counter()
    gen_images = _sample_model(
        net,
        schedule,
        gen_labels,
        len(class_names),
        config=config,
        seed=seed,
        batch_size=int(batch_size),
        device=device,
        progress=progress,
    )
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

    # 5. The report.
    settings = run_settings(
        n=n,
        counts=counts,
        config=config,
        steps=_steps_used(config, schedule),
        seed=seed,
        n_reference=len(reference[0]),
        n_train=len(train[0]),
        checkpoint=ckpt_label,
        data_source=source,
        classifier=classifier,
        classifier_label=classifier_label,
        image_size=size,
        metrics=metrics,
        device=device,
    )
    timings = {"sampling_s": sample_seconds, "total_s": time.perf_counter() - t_start}
    return EvaluationReport(
        settings, tuple(class_names), overall, per_class, timings, intervals, images, labels
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


# -- 1. the model and the classifier -----------------------------------------------------------
def _resolve_model(model, device):
    """(model, schedule, class_names, data_source, checkpoint label)."""
    from diffprob.diffusion.checkpoint import Checkpoint, default_checkpoint_path

    if model is None or isinstance(model, (str, Path)):
        path = default_checkpoint_path() if model is None else Path(model)
        model = Checkpoint.load(path)
        label = str(path)
    else:
        label = None
    if isinstance(model, Checkpoint):
        return (
            model.build_model(ema=model.ema_state is not None, device=device),
            model.build_schedule().to(device),
            tuple(model.class_names),
            model.data_source,
            label or "<Checkpoint>",
        )
    from diffprob.diffusion.schedule import NoiseSchedule

    if (
        isinstance(model, (tuple, list))
        and len(model) in (3, 4)
        and callable(model[0])
        and isinstance(model[1], NoiseSchedule)
    ):
        net, schedule, class_names = model[:3]
        source = model[3] if len(model) == 4 else ""
        if hasattr(net, "to"):
            net = net.to(device)
        return net, schedule.to(device), tuple(class_names), str(source), "<model>"
    raise ParameterError(
        "model must be a checkpoint path, a Checkpoint, or a tuple "
        "(model, schedule, class_names[, data_source])"
    )


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
