"""CLIP at sprite scale: two towers, the symmetric InfoNCE loss, and P(caption | image).

A :class:`ContrastiveModel` maps a sprite (image tower) and a caption (text tower,
pooled at ``<eos>``) to unit vectors u and v in one space. Training with
:func:`clip_loss` on a batch of B matching pairs makes each image pick its own
caption out of the B (and each caption its own image). After training, the scaled
cosine similarity read as logits over a set of captions c_1 .. c_K is a
conditional distribution::

    P(c_k | image) = exp(u . v_k / T) / sum_j exp(u . v_j / T)

with the temperature T = 1 / exp(logit_scale) learned with the towers
(:func:`caption_probabilities`). Its argmax over class prompts ("a hero", "an
item", ...) is zero-shot classification (:func:`zero_shot_classify`): the
classifier is written in words, not trained on labels.

The probabilities are conditional on the K captions offered: adding a caption
takes probability from the others, and T sets how sharp they are -- the logits
lie in [-1/T, 1/T], so at T = 0.07 two captions differ by at most a factor
e^(2/0.07).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from diffprob.diffusion.model_range import to_model_range
from diffprob.errors import ParameterError
from diffprob.stable_diffusion.image_encoder import ImageEncoder, ImageEncoderConfig
from diffprob.stable_diffusion.text_encoder import TextEncoder, TextEncoderConfig

__all__ = [
    "ContrastiveModel",
    "clip_loss",
    "same_caption_positives",
    "caption_similarities",
    "caption_probabilities",
    "zero_shot_classify",
    "INIT_TEMPERATURE",
    "MAX_LOGIT_SCALE",
]

INIT_TEMPERATURE = 0.07
"""CLIP's initial temperature: ``logit_scale`` starts at log(1 / 0.07)."""

MAX_LOGIT_SCALE = math.log(100.0)
"""CLIP's ceiling on ``logit_scale`` (temperature >= 0.01), against instability."""


def clip_loss(image_emb, text_emb, logit_scale, *, positives=None) -> torch.Tensor:
    """Symmetric InfoNCE loss of CLIP (Radford et al. 2021) over a batch of pairs.

    Parameters
    ----------
    image_emb, text_emb : torch.Tensor of shape (B, E)
        Row i of each is one matching pair; L2-normalised here.
    logit_scale : float or torch.Tensor
        Log of the inverse temperature: ``logits = exp(logit_scale) * u @ v.T``.
    positives : torch.BoolTensor of shape (B, B), optional
        ``positives[i, j]`` True where caption j also describes image i (the
        diagonal must be True). Each row's (and column's) target is then uniform
        over its positives instead of one-hot, so a duplicate caption in the batch
        is not pushed away as a false negative. None: one-hot targets
        ``arange(B)``, CLIP's loss exactly.

    Returns
    -------
    torch.Tensor
        Scalar: the mean of the image->text and text->image cross-entropies.

    Notes
    -----
    With one-hot targets, each cross-entropy is at least 0 and, for embeddings
    that carry no information (all rows equal), exactly log(B).

    Examples
    --------
    >>> u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> round(clip_loss(u, u, 0.0).item(), 6)   # -log(e / (e + 1))
    0.313262
    >>> round(clip_loss(u, torch.ones(2, 2), 0.0).item(), 6)   # log 2
    0.693147
    """
    if not isinstance(image_emb, torch.Tensor) or not isinstance(text_emb, torch.Tensor):
        raise ParameterError("image_emb and text_emb must be tensors")
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape or len(image_emb) == 0:
        raise ParameterError(
            f"image_emb and text_emb must both have shape (B, E), got "
            f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}"
        )
    u = F.normalize(image_emb, dim=-1)
    v = F.normalize(text_emb, dim=-1)
    scale = torch.as_tensor(logit_scale, dtype=u.dtype, device=u.device).exp()
    logits = scale * (u @ v.T)
    n = len(u)
    if positives is None:
        target = torch.arange(n, device=u.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    positives = torch.as_tensor(positives, device=u.device)
    if positives.shape != (n, n) or positives.dtype != torch.bool:
        raise ParameterError(f"positives must be a bool tensor of shape ({n}, {n})")
    if not bool(positives.diagonal().all()):
        raise ParameterError("positives must be True on the diagonal (each pair matches)")
    p = positives.to(u.dtype)
    rows = p / p.sum(dim=1, keepdim=True)
    cols = p.T / p.T.sum(dim=1, keepdim=True)
    loss_image = -(rows * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    loss_text = -(cols * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return (loss_image + loss_text) / 2


def same_caption_positives(captions) -> torch.Tensor:
    """``(B, B)`` bool: True where two captions of a batch are the same text.

    Examples
    --------
    >>> same_caption_positives(["a red potion", "a hero", "a red potion"]).int().tolist()
    [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    """
    _, code = np.unique(np.asarray(list(captions), dtype=object).astype(str), return_inverse=True)
    code = torch.from_numpy(code.reshape(-1))
    return code[:, None] == code[None, :]


class ContrastiveModel(nn.Module):
    """The CLIP pair: a :class:`TextEncoder`, an :class:`ImageEncoder` and a learned temperature.

    Parameters
    ----------
    text_config : TextEncoderConfig
    image_config : ImageEncoderConfig, optional
        Default: ``ImageEncoderConfig(embed_dim=text_config.embed_dim)``. Its
        ``embed_dim`` must equal the text tower's.
    init_temperature : float, optional
        Starting temperature; ``logit_scale`` starts at ``log(1 / init_temperature)``.

    Attributes
    ----------
    logit_scale : torch.nn.Parameter
        Learned log inverse temperature; used clamped to at most
        :data:`MAX_LOGIT_SCALE` (:meth:`scale`), as CLIP clamps it after each step.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> m = ContrastiveModel(TextEncoderConfig(vocab_size=20, max_length=6, width=16, embed_dim=8))
    >>> round(m.temperature, 4)
    0.07
    >>> ids = torch.tensor([[1, 5, 2, 0], [1, 6, 7, 2]])
    >>> u, v = m(torch.zeros(2, 3, 16, 16), ids, ids != 0)
    >>> tuple(u.shape), round(v.norm(dim=1)[0].item(), 4)
    ((2, 8), 1.0)
    """

    def __init__(
        self,
        text_config: TextEncoderConfig,
        image_config: ImageEncoderConfig | None = None,
        *,
        init_temperature: float = INIT_TEMPERATURE,
    ):
        super().__init__()
        if image_config is None:
            image_config = ImageEncoderConfig(embed_dim=text_config.embed_dim)
        if image_config.embed_dim != text_config.embed_dim:
            raise ParameterError(
                f"the towers must share embed_dim: text {text_config.embed_dim}, "
                f"image {image_config.embed_dim}"
            )
        if not (isinstance(init_temperature, (int, float)) and 0.01 <= init_temperature <= 10):
            raise ParameterError(
                f"init_temperature must be in [0.01, 10], got {init_temperature!r}"
            )
        self.text_encoder = TextEncoder(text_config)
        self.image_encoder = ImageEncoder(image_config)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    @property
    def text_config(self) -> TextEncoderConfig:
        return self.text_encoder.config

    @property
    def image_config(self) -> ImageEncoderConfig:
        return self.image_encoder.config

    def model_config(self) -> dict:
        """JSON-able description that :meth:`from_config` rebuilds the model from."""
        return {"text": self.text_config.to_dict(), "image": self.image_config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> ContrastiveModel:
        """A fresh model from :meth:`model_config` output (load weights separately)."""
        if not isinstance(config, dict) or set(config) != {"text", "image"}:
            raise ParameterError(
                "a contrastive model configuration has exactly keys 'text', 'image'"
            )
        return cls(
            TextEncoderConfig.from_dict(config["text"]),
            ImageEncoderConfig.from_dict(config["image"]),
        )

    def scale(self) -> torch.Tensor:
        """``logit_scale`` clamped to at most :data:`MAX_LOGIT_SCALE` (differentiable below it)."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE)

    @property
    def temperature(self) -> float:
        """T = 1 / exp(clamped logit_scale): the softmax temperature of the similarities."""
        return float(torch.exp(-self.scale().detach()))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit vectors ``(B, embed_dim)`` of sprites ``(B, 3, 16, 16)`` in [-1, 1]."""
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unit vectors ``(B, embed_dim)`` of token ids and masks (the pooled ``<eos>`` feature)."""
        return F.normalize(self.text_encoder(ids, mask)[1], dim=-1)

    def forward(self, images, ids, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit image and text vectors of a batch of pairs."""
        return self.encode_image(images), self.encode_text(ids, mask)


def _as_model_images(images) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` (numpy or torch) or float ``(N, 3, H, W)`` in [-1, 1] -> float tensor."""
    if isinstance(images, torch.Tensor) and images.dtype != torch.uint8:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ParameterError(
                f"float images must have shape (N, 3, H, W), got {tuple(images.shape)}"
            )
        return images.float()
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return torch.from_numpy(to_model_range(a))
    if np.issubdtype(a.dtype, np.floating) and a.ndim == 4 and a.shape[1] == 3:
        return torch.from_numpy(a.astype(np.float32))
    raise ParameterError(
        "images must be uint8 (N, H, W, 3) or float (N, 3, H, W) in [-1, 1], "
        f"got {a.dtype} {a.shape}"
    )


def _as_captions(captions) -> list[str]:
    if isinstance(captions, str):
        captions = [captions]
    captions = list(captions)
    if not captions or not all(isinstance(c, str) for c in captions):
        raise ParameterError("captions must be a non-empty list of strings")
    return captions


@torch.no_grad()
def caption_similarities(model, tokenizer, images, captions, *, batch_size: int = 512):
    """Cosine similarity of every image with every caption: ``(n_images, n_captions)`` float64.

    ``images``: uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in [-1, 1];
    ``captions``: strings, tokenized with ``tokenizer.encode``. The model is put in
    evaluation mode and left there.
    """
    model.eval()
    device = next(model.parameters()).device
    x = _as_model_images(images)
    ids, mask = tokenizer.encode(_as_captions(captions))
    v = model.encode_text(ids.to(device), mask.to(device))
    rows = [
        model.encode_image(x[i : i + batch_size].to(device)) @ v.T
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(rows).double().cpu().numpy()


def caption_probabilities(model, tokenizer, images, captions, *, batch_size: int = 512):
    """P(caption | image): the softmax over ``captions`` of the scaled cosine similarity.

    Parameters
    ----------
    model : ContrastiveModel
    tokenizer : CaptionTokenizer
    images : array_like
        uint8 ``(N, H, W, 3)`` sprites, or float ``(N, 3, H, W)`` in [-1, 1].
    captions : sequence of str
        The K candidate captions; the distribution is over these K only.
    batch_size : int, optional
        Images encoded per forward pass.

    Returns
    -------
    numpy.ndarray
        ``(N, K)`` float64, each row a distribution (sums to 1)::

            P(c_k | x) = exp(cos(x, c_k) / T) / sum_j exp(cos(x, c_j) / T)

        with T = ``model.temperature``, the temperature learned in training. It is
        CLIP's image->text softmax: conditional on the offered captions, and as
        sharp as T makes it (a different T reorders nothing but changes every
        probability).
    """
    cos = caption_similarities(model, tokenizer, images, captions, batch_size=batch_size)
    logits = cos / model.temperature
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def zero_shot_classify(model, tokenizer, images, prompts, *, batch_size: int = 512) -> np.ndarray:
    """Index of the prompt each image matches best (argmax of :func:`caption_probabilities`).

    With ``prompts = [class_prompt(c) for c in CLASSES]`` this is a classifier that
    never saw a label: zero-shot classification by caption retrieval.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` int64 indices into ``prompts``.
    """
    cos = caption_similarities(model, tokenizer, images, prompts, batch_size=batch_size)
    return cos.argmax(axis=1).astype(np.int64)
