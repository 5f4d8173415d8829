"""A small CNN that recognises sprite classes: the judge of generated sprites.

Evaluation needs two things no colour histogram gives: does a sample asked for
class c *look like* class c (conditional accuracy), and how far is the cloud of
generated sprites from the real one in a space where shapes matter (Fréchet
distance and KID on the network's penultimate features). Inception-v3 does this
for FID on photographs; for 16x16 sprites a three-layer CNN trained in seconds on
the embedded data set does it without any download.

The shipped weights live in ``data/classifier/sprite_classifier16.pt`` (retrain
with ``diffprob classifier train --force``; see ``data/classifier/README.md``); the
training itself is :mod:`diffprob.evaluation.classifier_training`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from diffprob.diffusion.model_range import to_model_range
from diffprob.errors import CheckpointError, ParameterError
from diffprob.util.paths import data_path
from diffprob.util.safe_load import load_weights_only
from diffprob.util.validation import check_image_batch

__all__ = [
    "SpriteClassifier",
    "extract_features",
    "predict",
    "classifier_accuracy",
    "save_classifier",
    "load_classifier",
    "default_classifier_path",
]

FORMAT = "diffprob-sprite-classifier"
FORMAT_VERSION = 1


def default_classifier_path() -> Path:
    """Path of the shipped classifier weights (``data/classifier/`` in the repository)."""
    return data_path("classifier", "sprite_classifier16.pt")


class SpriteClassifier(nn.Module):
    """Three conv blocks, global average pooling, a feature layer, a linear head.

    Parameters
    ----------
    n_classes : int
        Number of output classes.
    width : int, optional
        Channels of the first conv block (the next two have ``2 * width``).
    feature_dim : int, optional
        Size D of the penultimate feature vector used for FD and KID.
    image_size : int, optional
        Side of the square RGB input images (recorded; pooling is global, so
        the network itself accepts any size).
    class_names : sequence of str, optional
        Names of the classes in label order.

    Notes
    -----
    Input: float tensors (N, 3, H, W) in [-1, 1] (the model's range; uint8
    arrays go through :func:`extract_features` / :func:`predict`). GroupNorm
    keeps a sample's output independent of the rest of its batch.

    Examples
    --------
    >>> model = SpriteClassifier(5)
    >>> x = torch.zeros(2, 3, 16, 16)
    >>> tuple(model(x).shape), tuple(model.features(x).shape)
    ((2, 5), (2, 64))
    """

    def __init__(
        self,
        n_classes: int,
        width: int = 32,
        feature_dim: int = 64,
        image_size=16,
        class_names=None,
    ):
        super().__init__()
        if int(n_classes) < 2:
            raise ParameterError(f"n_classes must be >= 2, got {n_classes}")
        self.n_classes = int(n_classes)
        self.width = int(width)
        self.feature_dim = int(feature_dim)
        self.image_size = int(image_size)
        if class_names is None:
            class_names = [str(i) for i in range(self.n_classes)]
        self.class_names = tuple(str(c) for c in class_names)
        if len(self.class_names) != self.n_classes:
            raise ParameterError(f"{len(self.class_names)} class names for {n_classes} classes")
        if self.width < 8 or self.width % 8:  # GroupNorm(8, width)
            raise ParameterError(f"width must be a positive multiple of 8, got {width}")
        if self.feature_dim < 1:
            raise ParameterError(f"feature_dim must be >= 1, got {feature_dim}")

        def block(c_in, c_out):
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.GELU()
            )

        w = self.width
        self.body = nn.Sequential(
            block(3, w),
            nn.MaxPool2d(2),
            block(w, 2 * w),
            nn.MaxPool2d(2),
            block(2 * w, 2 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.embed = nn.Sequential(nn.Linear(2 * w, self.feature_dim), nn.GELU())
        self.head = nn.Linear(self.feature_dim, self.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (N, feature_dim)."""
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (N, n_classes)."""
        return self.head(self.features(x))

    def config(self) -> dict:
        """Constructor arguments (saved with the weights)."""
        return {
            "n_classes": self.n_classes,
            "width": self.width,
            "feature_dim": self.feature_dim,
            "image_size": self.image_size,
            "class_names": list(self.class_names),
        }


def classifier_input(images) -> torch.Tensor:
    """uint8 (N, H, W, 3) numpy or float (N, 3, H, W) tensor in [-1, 1] -> float tensor."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ParameterError(f"expected a (N, 3, H, W) tensor, got {tuple(images.shape)}")
        return images.float()
    images = check_image_batch(images, error=ParameterError)
    x = torch.from_numpy(to_model_range(images))
    # Channels-last memory, as the network has always been given (a permuted view of
    # the (N, H, W, 3) array): the convolutions then give the numbers they always gave.
    return x.contiguous(memory_format=torch.channels_last)


def _check_size(model: SpriteClassifier, x: torch.Tensor) -> None:
    if x.shape[-1] != model.image_size or x.shape[-2] != model.image_size:
        raise ParameterError(
            f"the classifier was trained on {model.image_size}x{model.image_size} images, "
            f"got {x.shape[-2]}x{x.shape[-1]}"
        )


@torch.no_grad()
def _batched(model, images, fn, batch_size):
    x = classifier_input(images)
    _check_size(model, x)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        outs = [fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not outs:
        return None
    return torch.cat(outs)


def extract_features(model: SpriteClassifier, images, *, batch_size: int = 500) -> np.ndarray:
    """Penultimate-layer features of images, for FD and KID.

    Parameters
    ----------
    model : SpriteClassifier
    images : numpy.ndarray of uint8 (N, H, W, 3) or torch.Tensor (N, 3, H, W) in [-1, 1]
    batch_size : int, optional

    Returns
    -------
    numpy.ndarray of float64, shape (N, model.feature_dim)

    Examples
    --------
    >>> model = SpriteClassifier(5)
    >>> extract_features(model, np.zeros((3, 16, 16, 3), np.uint8)).shape
    (3, 64)
    """
    out = _batched(model, images, model.features, int(batch_size))
    if out is None:
        return np.zeros((0, model.feature_dim))
    return out.double().numpy()


def predict(model: SpriteClassifier, images, *, batch_size: int = 500) -> np.ndarray:
    """Predicted class index of each image (int64, shape (N,))."""
    out = _batched(model, images, model, int(batch_size))
    if out is None:
        return np.zeros(0, dtype=np.int64)
    return out.argmax(dim=1).numpy().astype(np.int64)


def classifier_accuracy(model: SpriteClassifier, images, labels) -> float:
    """Fraction of images whose predicted class equals `labels`."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return float("nan")
    return float((predict(model, images) == labels).mean())


def _plain(obj):
    """Builtin types only, so the file loads with ``weights_only=True``."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def save_classifier(model: SpriteClassifier, path, *, metadata: dict | None = None) -> Path:
    """Save weights, config and class names as one ``weights_only``-loadable file.

    The file is written to a temporary name and moved into place, so an
    interrupted save never leaves a truncated checkpoint.

    Raises
    ------
    ParameterError
        Some weight is not finite (a diverged training run); nothing is written.
    OSError
        The folder cannot be written.
    """
    path = Path(path)
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = _first_non_finite(weights)
    if bad is not None:
        raise ParameterError(
            f"the classifier's weights are not finite ({bad!r}): a diverged training run; "
            "refusing to save them"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config(),
        "state_dict": weights,
        "metadata": _plain(dict(metadata or getattr(model, "train_info", {}))),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:  # Python's open: an unwritable folder is an OSError
            torch.save(state, handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _first_non_finite(state: dict) -> str | None:
    """The first key of `state` holding a non-finite float, or None."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return key
    return None


def load_classifier(path=None, *, device="cpu") -> SpriteClassifier:
    """Load a classifier saved by :func:`save_classifier` (default: the shipped one).

    Raises
    ------
    CheckpointError
        Missing, corrupt or not a sprite-classifier file.
    """
    path = default_classifier_path() if path is None else Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"classifier weights {str(path)!r} not found; train them with "
            "'diffprob classifier train'"
        )
    state = load_weights_only(path, "diffprob sprite-classifier file")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a diffprob sprite-classifier file")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has classifier format version {state.get('format_version')}, "
            f"expected {FORMAT_VERSION}"
        )
    try:
        model = SpriteClassifier(**state["config"])
        model.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise CheckpointError(
            f"classifier {str(path)!r} does not match its config: {first}"
        ) from None
    bad = _first_non_finite(model.state_dict())
    if bad is not None:
        raise CheckpointError(
            f"classifier {str(path)!r} holds non-finite weights ({bad!r}): "
            "it came from a diverged training run"
        )
    model.train_info = dict(state.get("metadata", {}))
    return model.to(device).eval()
