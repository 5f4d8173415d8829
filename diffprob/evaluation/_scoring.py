"""The scoring step of :func:`~diffprob.evaluation.evaluate.evaluate`: every group's metrics.

:func:`score_groups` compares each group of images (model, real, baselines) with
the reference set and fills the rows of an
:class:`~diffprob.evaluation.report.EvaluationReport`, overall and per class:

* colour: TV, JS (bits) and W1 between per-channel PMFs (mean and per channel), and
  TV between R-G, G-B, R-B joint PMFs (mean and per pair);
* classifier: accuracy = mean[prediction == label], FD and KID (stratified by class)
  between the group's features and the reference's;
* memorisation: mean, median and minimum nearest-training-sprite distance, and the
  fraction of exact copies (distance 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from diffprob.evaluation.classifier import extract_features
from diffprob.evaluation.divergences import (
    jensen_shannon_divergence,
    joint_histogram_distance,
    total_variation_distance,
    wasserstein1_distance,
)
from diffprob.evaluation.report import GROUPS
from diffprob.evaluation.sample_distances import (
    frechet_distance,
    kernel_distance,
    nearest_neighbor_distances,
)
from diffprob.stats.histograms import channel_histograms
from diffprob.stats.joint import joint_histogram

__all__ = ["MetricSettings", "score_groups", "predict_from_features"]

JOINT_PAIRS = (("R", "G"), ("G", "B"), ("R", "B"))


@dataclass(frozen=True)
class MetricSettings:
    """How every group is scored: histogram bins and KID's subsets and seed."""

    pmf_bins: int
    joint_bins: int
    kid_subset_size: int
    kid_subsets: int
    kid_seed: int


class _ReferenceStats:
    """Histograms and features of the reference images, computed once per subset."""

    def __init__(self, images, labels, features, settings: MetricSettings):
        self.channels = channel_histograms(images, bins=settings.pmf_bins)
        self.joints = {
            x + y: joint_histogram(images, x, y, bins=settings.joint_bins) for x, y in JOINT_PAIRS
        }
        self.features = features
        self.labels = labels


def _smallest_class(labels) -> int:
    return int(np.unique(labels, return_counts=True)[1].min())


def _colour_metrics(images, ref: _ReferenceStats, settings: MetricSettings) -> dict:
    out: dict[str, float] = {}
    hist = channel_histograms(images, bins=settings.pmf_bins)
    per_channel = {
        "tv": total_variation_distance(hist, ref.channels),
        "js_bits": jensen_shannon_divergence(hist, ref.channels),
        "w1": wasserstein1_distance(hist, ref.channels),
    }
    for key, values in per_channel.items():
        out[key] = float(np.mean(values))
        for name, value in zip(hist.channels, values, strict=True):
            out[f"{key}_{name}"] = float(value)
    joint = {
        pair: joint_histogram_distance(
            joint_histogram(images, pair[0], pair[1], bins=settings.joint_bins), ref.joints[pair]
        )
        for pair in ref.joints
    }
    out["joint_tv"] = float(np.mean(list(joint.values())))
    for pair, value in joint.items():
        out[f"joint_tv_{pair}"] = float(value)
    return out


def _feature_metrics(labels, features, ref: _ReferenceStats, settings: MetricSettings) -> dict:
    if min(len(features), len(ref.features)) < 2:
        return {"fd": float("nan"), "kid": float("nan"), "kid_std": float("nan")}
    fd = frechet_distance(features, ref.features)
    # Every set holds a fixed number per class, which biases the plain estimate below
    # 0 (see kernel_distance); stratify by class wherever each class has 2 or more.
    stratify = min(_smallest_class(labels), _smallest_class(ref.labels)) >= 2
    kid, kid_std = kernel_distance(
        features,
        ref.features,
        subset_size=settings.kid_subset_size,
        n_subsets=settings.kid_subsets,
        rng=settings.kid_seed,
        return_std=True,
        strata=(labels, ref.labels) if stratify else None,
    )
    return {"fd": fd, "kid": kid, "kid_std": kid_std}


def _group_metrics(images, labels, features, nn_dist, predictions, ref, settings) -> dict:
    out = _colour_metrics(images, ref, settings)
    out["accuracy"] = float((predictions == labels).mean())
    out.update(_feature_metrics(labels, features, ref, settings))
    out["nn_train"] = float(nn_dist.mean())
    out["nn_train_median"] = float(np.median(nn_dist))
    out["nn_train_min"] = float(nn_dist.min())
    out["exact_copies"] = float((nn_dist == 0).mean())
    return out


def score_groups(images, labels, train_images, classifier, class_names, settings):
    """(overall, per_class) metric rows of every group in :data:`GROUPS`.

    `images` and `labels` are dicts keyed by group that also hold the ``"reference"``
    set every group is compared with. ``per_class[name]`` compares each group's
    images of one class with the reference images of that class (a class missing
    from the reference is left out).
    """
    features = {g: extract_features(classifier, im) for g, im in images.items()}
    predictions = {g: predict_from_features(classifier, features[g]) for g in GROUPS}
    nn_dist = _nearest_training_distances(images, train_images)

    def rows(keep: dict, ref: _ReferenceStats) -> dict:
        return {
            g: _group_metrics(
                images[g][keep[g]],
                labels[g][keep[g]],
                features[g][keep[g]],
                nn_dist[g][keep[g]],
                predictions[g][keep[g]],
                ref,
                settings,
            )
            for g in GROUPS
        }

    ref_images, ref_labels, ref_features = (
        images["reference"],
        labels["reference"],
        features["reference"],
    )
    everything = {g: slice(None) for g in GROUPS}
    overall = rows(everything, _ReferenceStats(ref_images, ref_labels, ref_features, settings))
    per_class = {}
    for c, name in enumerate(class_names):
        ref_mask = ref_labels == c
        if not ref_mask.any():
            continue
        ref_c = _ReferenceStats(
            ref_images[ref_mask], ref_labels[ref_mask], ref_features[ref_mask], settings
        )
        per_class[name] = rows({g: labels[g] == c for g in GROUPS}, ref_c)
    return overall, per_class


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
