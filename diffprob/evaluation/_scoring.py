"""The scoring step of :func:`~diffprob.evaluation.evaluate.evaluate`: every group's metrics.

:func:`score_groups` compares each group of images (model, real, baselines) with
the reference set and fills the rows of an
:class:`~diffprob.evaluation.report.EvaluationReport`, overall and per class:

* colour: TV, JS (bits) and W1 between per-channel PMFs (mean and per channel), TV at
  the exact 256 levels, TV within each class (mean over classes), and TV between
  R-G, G-B, R-B joint PMFs (mean and per pair);
* classifier: accuracy = mean[prediction == label], FD and KID (stratified by class)
  between the group's features and the reference's;
* memorisation: mean, median and minimum nearest-training-sprite distance, and the
  fraction of exact copies (distance 0).

Every colour metric is a function of pooled pixel counts, so each image's counts are
taken once and a set's histogram is a sum of rows: that makes the bootstrap of the
headline figures (:mod:`~diffprob.evaluation.uncertainty`) a matter of summing
resampled rows, and the pooled counts equal those of
:func:`~diffprob.stats.histograms.channel_histograms` and
:func:`~diffprob.stats.joint.joint_histogram` exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import torch

from diffprob.evaluation.classifier import extract_features
from diffprob.evaluation.divergences import (
    jensen_shannon_divergence,
    total_variation_distance,
    wasserstein1_distance,
)
from diffprob.evaluation.kernel_mmd import KernelReference, kernel_distance
from diffprob.evaluation.report import GROUPS
from diffprob.evaluation.sample_distances import (
    FrechetReference,
    frechet_distance,
    nearest_neighbor_distances,
)
from diffprob.evaluation.uncertainty import bootstrap_intervals
from diffprob.stats.histograms import rebin

__all__ = ["MetricSettings", "score_groups", "predict_from_features"]

CHANNELS = ("R", "G", "B")
JOINT_PAIRS = (("R", "G"), ("G", "B"), ("R", "B"))
_COLOUR_HEADLINES = ("tv", "tv_256", "class_tv", "js_bits", "w1", "joint_tv")
_PAIR_INDEX = tuple((CHANNELS.index(x), CHANNELS.index(y)) for x, y in JOINT_PAIRS)


@dataclass(frozen=True)
class MetricSettings:
    """How every group is scored: histogram bins, KID's subsets and seed, the bootstrap."""

    pmf_bins: int
    joint_bins: int
    kid_subset_size: int
    kid_subsets: int
    kid_seed: int
    n_bootstrap: int = 0
    confidence: float = 0.95


class _Counts:
    """Per-image pixel counts: every code of every channel, and binned channel pairs."""

    def __init__(self, images: np.ndarray, joint_bins: int):
        n = len(images)
        pixels = images.reshape(n, -1, 3).astype(np.int64)
        rows = np.arange(n)[:, None]
        self.levels = np.stack(
            [
                np.bincount((rows * 256 + pixels[..., c]).ravel(), minlength=n * 256).reshape(
                    n, 256
                )
                for c in range(3)
            ],
            axis=1,
        ).astype(np.int32)  # (n, 3, 256)
        # Bin of a code: floor(v * bins / 256), the bins of joint_histogram.
        binned = pixels * joint_bins // 256
        jb2 = joint_bins * joint_bins
        self.joint = np.stack(
            [
                np.bincount(
                    (rows * jb2 + binned[..., x] * joint_bins + binned[..., y]).ravel(),
                    minlength=n * jb2,
                ).reshape(n, jb2)
                for x, y in _PAIR_INDEX
            ],
            axis=1,
        ).astype(np.int32)  # (n, 3, joint_bins**2)


@dataclass
class _Reference:
    """Pooled counts and features of the reference images (all, or one class)."""

    levels: np.ndarray  # (3, 256)
    joint: np.ndarray  # (3, joint_bins**2)
    class_levels: dict  # class -> (3, 256)
    class_joint: dict  # class -> (3, joint_bins**2)
    features: np.ndarray
    labels: np.ndarray

    @functools.cached_property
    def kernel(self) -> KernelReference:
        """KID's kernel sums of the reference, computed once for every group's bootstrap."""
        return KernelReference(self.features, self.labels)


def _reference(images, labels, features, joint_bins, chunk: int = 2000) -> _Reference:
    # Summed a chunk at a time: a large reference's per-image counts would be large.
    levels = np.zeros((3, 256), np.int64)
    joint = np.zeros((3, joint_bins * joint_bins), np.int64)
    classes = [int(c) for c in np.unique(labels)]
    class_levels = {c: np.zeros_like(levels) for c in classes}
    class_joint = {c: np.zeros_like(joint) for c in classes}
    for start in range(0, len(images), chunk):
        counts = _Counts(images[start : start + chunk], joint_bins)
        lab = labels[start : start + chunk]
        for c in np.unique(lab):
            class_levels[int(c)] += counts.levels[lab == c].sum(axis=0)
            class_joint[int(c)] += counts.joint[lab == c].sum(axis=0)
    levels, joint = sum(class_levels.values()), sum(class_joint.values())
    return _Reference(levels, joint, class_levels, class_joint, features, labels)


def _subset(ref: _Reference, c: int) -> _Reference:
    """The reference restricted to class `c`."""
    mask = ref.labels == c
    levels, joint = ref.class_levels[c], ref.class_joint[c]
    return _Reference(levels, joint, {c: levels}, {c: joint}, ref.features[mask], ref.labels[mask])


def _smallest_class(labels) -> int:
    return int(np.unique(labels, return_counts=True)[1].min())


def _channel_metrics(levels, ref_levels, pmf_bins) -> dict:
    binned, ref_binned = rebin(levels, 256, pmf_bins), rebin(ref_levels, 256, pmf_bins)
    out: dict[str, float] = {}
    per_channel = {
        "tv": total_variation_distance(binned, ref_binned),
        "js_bits": jensen_shannon_divergence(binned, ref_binned),
        "w1": wasserstein1_distance(binned, ref_binned),
    }
    for key, values in per_channel.items():
        out[key] = float(np.mean(values))
        for name, value in zip(CHANNELS, values, strict=True):
            out[f"{key}_{name}"] = float(value)
    out["tv_256"] = float(np.mean(total_variation_distance(levels, ref_levels)))
    return out


class _Group:
    """What a group is scored from: its labels, per-image counts, features, distances."""

    def __init__(self, labels, counts, features, predictions, nn_dist):
        self.labels, self.counts, self.features = labels, counts, features
        self.predictions, self.nn_dist = predictions, nn_dist

    def colour(self, idx, ref: _Reference, settings: MetricSettings) -> dict:
        levels = self.counts.levels[idx].sum(axis=0)
        out = _channel_metrics(levels, ref.levels, settings.pmf_bins)
        joint = total_variation_distance(self.counts.joint[idx].sum(axis=0), ref.joint)
        out["joint_tv"] = float(np.mean(joint))
        for (x, y), value in zip(JOINT_PAIRS, joint, strict=True):
            out[f"joint_tv_{x}{y}"] = float(value)
        labels = self.labels[idx]
        class_tv = []
        for c, ref_c in ref.class_levels.items():
            members = idx[labels == c]
            if len(members):
                own = rebin(self.counts.levels[members].sum(axis=0), 256, settings.pmf_bins)
                theirs = rebin(ref_c, 256, settings.pmf_bins)
                class_tv.append(np.mean(total_variation_distance(own, theirs)))
        out["class_tv"] = float(np.mean(class_tv)) if class_tv else float("nan")
        return out

    def fd(self, idx, ref: _Reference) -> float:
        if min(len(idx), len(ref.features)) < 2:
            return float("nan")
        return frechet_distance(self.features[idx], ref.features)

    def kid(self, idx, ref: _Reference, settings: MetricSettings, n_subsets: int):
        features, labels = self.features[idx], self.labels[idx]
        if min(len(features), len(ref.features)) < 2:
            return float("nan"), float("nan")
        # Every set holds a fixed number per class, which biases the plain estimate below
        # 0 (see kernel_distance); stratify by class wherever each class has 2 or more.
        stratify = min(_smallest_class(labels), _smallest_class(ref.labels)) >= 2
        return kernel_distance(
            features,
            ref.features,
            subset_size=settings.kid_subset_size,
            n_subsets=n_subsets,
            rng=settings.kid_seed,
            return_std=True,
            strata=(labels, ref.labels) if stratify else None,
        )

    def metrics(self, idx, ref: _Reference, settings: MetricSettings) -> dict:
        out = self.colour(idx, ref, settings)
        out["accuracy"] = float((self.predictions[idx] == self.labels[idx]).mean())
        out["fd"] = self.fd(idx, ref)
        out["kid"], out["kid_std"] = self.kid(idx, ref, settings, settings.kid_subsets)
        dist = self.nn_dist[idx]
        out["nn_train"] = float(dist.mean())
        out["nn_train_median"] = float(np.median(dist))
        out["nn_train_min"] = float(dist.min())
        out["exact_copies"] = float((dist == 0).mean())
        return out

    def intervals(self, ref: _Reference, settings: MetricSettings, rng, point: dict) -> dict:
        """Bootstrap interval of every headline metric (resampling within classes).

        Each interval carries the value of `point`, the group's overall row: the
        resamples use FD's faster form (equal to rounding) and KID on the whole sets
        instead of averaged subsets (the same unbiased estimator, less subset noise).
        """
        enough = min(len(self.labels), len(ref.features)) >= 2
        fd_reference = FrechetReference(ref.features) if enough else None
        # Stratified KID needs 2 or more of each class on both sides (see kid()).
        stratified = enough and min(_smallest_class(self.labels), _smallest_class(ref.labels)) >= 2
        kid_reference = ref.kernel.with_set(self.features, self.labels) if stratified else None

        def headline(idx) -> dict:
            colour = self.colour(idx, ref, settings)
            out = {key: colour[key] for key in _COLOUR_HEADLINES}
            out["accuracy"] = float((self.predictions[idx] == self.labels[idx]).mean())
            out["fd"] = fd_reference.distance(self.features[idx]) if enough else float("nan")
            out["kid"] = kid_reference.mmd2(idx) if kid_reference else float("nan")
            out["nn_train"] = float(self.nn_dist[idx].mean())
            return out

        intervals = bootstrap_intervals(
            headline,
            len(self.labels),
            strata=self.labels,
            n_resamples=settings.n_bootstrap,
            confidence=settings.confidence,
            rng=rng,
        )
        return {key: replace(est, value=point[key]) for key, est in intervals.items()}


def score_groups(images, labels, train_images, classifier, class_names, settings, rng=None):
    """(overall, per_class, intervals) of every group in :data:`GROUPS`.

    `images` and `labels` are dicts keyed by group that also hold the ``"reference"``
    set every group is compared with. ``per_class[name]`` compares each group's
    images of one class with the reference images of that class (a class missing
    from the reference is left out). ``intervals[group][metric]`` is the bootstrap
    :class:`~diffprob.evaluation.uncertainty.Estimate` of each headline metric of the
    overall rows (empty when ``settings.n_bootstrap`` is 0).
    """
    features = {g: extract_features(classifier, im) for g, im in images.items()}
    nn_dist = _nearest_training_distances(images, train_images)
    groups = {
        g: _Group(
            labels[g],
            _Counts(images[g], settings.joint_bins),
            features[g],
            predict_from_features(classifier, features[g]),
            nn_dist[g],
        )
        for g in GROUPS
    }
    ref = _reference(
        images["reference"], labels["reference"], features["reference"], settings.joint_bins
    )

    overall = {g: groups[g].metrics(np.arange(len(labels[g])), ref, settings) for g in GROUPS}
    per_class = {}
    for c, name in enumerate(class_names):
        if c not in ref.class_levels:
            continue
        ref_c = _subset(ref, c)
        per_class[name] = {
            g: groups[g].metrics(np.flatnonzero(labels[g] == c), ref_c, settings) for g in GROUPS
        }
    intervals = {}
    if settings.n_bootstrap:
        streams = (
            rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(rng)
        ).spawn(len(GROUPS))
        intervals = {
            g: groups[g].intervals(ref, settings, np.random.default_rng(stream), overall[g])
            for g, stream in zip(GROUPS, streams, strict=True)
        }
    return overall, per_class, intervals


def _nearest_training_distances(images: dict, train_images) -> dict:
    # One search for all groups: the training set is converted to float once.
    all_dist = nearest_neighbor_distances(
        np.concatenate([images[g] for g in GROUPS]), train_images
    )[0]
    bounds = np.cumsum([0] + [len(images[g]) for g in GROUPS])
    return {g: all_dist[bounds[i] : bounds[i + 1]] for i, g in enumerate(GROUPS)}


def predict_from_features(classifier, features: np.ndarray) -> np.ndarray:
    """The classifier's predicted classes from features it has already extracted."""
    with torch.no_grad():
        param = next(classifier.head.parameters())
        logits = classifier.head(torch.from_numpy(features).to(param.device, param.dtype))
    return logits.argmax(dim=1).cpu().numpy().astype(np.int64)
