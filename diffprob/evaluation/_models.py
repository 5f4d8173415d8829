"""How :func:`~diffprob.evaluation.evaluate.evaluate` reads "a model", and how it samples.

A model given to :func:`~diffprob.evaluation.evaluate.evaluate` is one of

* a pixel checkpoint (a path, a loaded :class:`~diffprob.diffusion.checkpoint.Checkpoint`,
  or None: the shipped one);
* a loaded model tuple ``(model, schedule, class_names[, data_source])``, as
  :func:`~diffprob.diffusion.checkpoint.load_model` returns it;
* a text-to-sprite :class:`~diffprob.stable_diffusion.pipeline.Txt2ImgPipeline` (or the
  path of one; :func:`load_model_file` tells the files apart by their ``format`` key).

:func:`_resolve_model` turns each into a sampling strategy with one interface
(``class_names``, ``data_source``, ``image_size``, ``schedule``, ``label``, ``kind``,
``sampler_config``, ``sample``): :class:`_PixelModel` asks for class c with the one-hot
context e_c (through :func:`~diffprob.evaluation.evaluate._sample_model`), :class:`_TextModel`
with its class prompt ("a hero", "some food", ...) and also draws sprites for any list of
prompts (``prompted``, for prompt faithfulness).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffprob.errors import CheckpointError, ParameterError

__all__ = ["load_model_file", "TXT2IMG_DATA_SOURCE"]

TXT2IMG_DATA_SOURCE = "sprites(n=50000, size=16, seed=0)"
"""The stand-in training set of a text-to-sprite pipeline (unless its metadata names a
``data_source``): it trains on a fresh stream of generator sprites, so the memorisation
distances and the independent-pixel baseline use the pixel model's 50000 sprites, which
keeps the two models' rows comparable."""


def load_model_file(path, device="cpu"):
    """The model in a file: a :class:`~diffprob.diffusion.checkpoint.Checkpoint` (pixel
    U-Net) or a :class:`~diffprob.stable_diffusion.pipeline.Txt2ImgPipeline`, told apart
    by the file's ``format`` key.

    Raises
    ------
    CheckpointError
        The file is neither (a single part of the text model, ``"format":
        "diffprob-part"``, says which file to give instead).
    """
    from diffprob.diffusion.checkpoint import Checkpoint
    from diffprob.util.safe_load import load_weights_only

    path = Path(path)
    if not path.is_file():
        return Checkpoint.load(path)  # its own message for a folder or a missing file
    data = load_weights_only(path, "diffprob model file")
    kind = data.get("format") if isinstance(data, dict) else None
    if kind == "diffprob-txt2img":
        from diffprob.errors import DataError
        from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline

        try:
            return Txt2ImgPipeline.from_dict(data).to(device)
        except DataError as exc:
            raise CheckpointError(f"{str(path)!r} {exc}") from None
    if kind == "diffprob-part":
        raise CheckpointError(
            f"{str(path)!r} holds one part ({data.get('part')!r}) of the text-to-sprite model; "
            "evaluate the whole pipeline (txt2img.pt in the training run's folder)"
        )
    return Checkpoint.load(path)


@dataclass
class _PixelModel:
    """The pixel U-Net: class c is asked for with the one-hot context e_c."""

    net: object
    schedule: object
    class_names: tuple
    data_source: str
    label: str
    kind = "pixel"

    @property
    def image_size(self) -> int:
        return int(getattr(getattr(self.net, "config", None), "image_size", 16))

    def sampler_config(self, config, guidance_given: bool):
        return config

    def sample(self, labels, *, seed, **draw):
        # Looked up in evaluate's namespace at call time, where tests replace it.
        import diffprob.evaluation.evaluate as evaluate_module

        return evaluate_module._sample_model(
            self.net, self.schedule, labels, len(self.class_names), seed=seed, **draw
        )


@dataclass
class _TextModel:
    """A text-to-sprite pipeline: class c is asked for with its class prompt ("a hero")."""

    pipeline: object
    data_source: str
    label: str
    kind = "txt2img"

    @property
    def class_names(self) -> tuple:
        from diffprob.sprites.classes import CLASSES

        return tuple(CLASSES)

    @property
    def schedule(self):
        return self.pipeline.schedule

    @property
    def image_size(self) -> int:
        return int(self.pipeline.vae.config.image_size)

    def prompt(self, class_name: str) -> str:
        from diffprob.sprites.captions import class_prompt

        return class_prompt(class_name)

    def sampler_config(self, config, guidance_given: bool):
        """`config` with clip_x0 off and, unless one was given, the pipeline's guidance."""
        return self.pipeline.sampler_config(
            config, None if guidance_given else self.pipeline.guidance
        )

    def sample(self, labels, *, seed, **draw):
        prompts = [self.prompt(self.class_names[int(c)]) for c in labels]
        return self.prompted(prompts, seed=seed, **draw)

    def prompted(self, prompts, *, config, seed, batch_size, device, progress):
        """uint8 sprites, one per prompt, drawn `batch_size` at a time from one generator."""
        import torch

        generator = torch.Generator().manual_seed(int(seed))
        chunks = []
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            result = self.pipeline(
                chunk, len(chunk), config=config, generator=generator, progress=progress
            )
            chunks.append(result.images)
        return np.concatenate(chunks)


def _resolve_model(model, device):
    """The model as a sampling strategy (:class:`_PixelModel` or :class:`_TextModel`)."""
    from diffprob.diffusion.checkpoint import Checkpoint, default_checkpoint_path
    from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline

    label = None
    if model is None or isinstance(model, (str, Path)):
        path = default_checkpoint_path() if model is None else Path(model)
        model = load_model_file(path, device)
        label = str(path)
    if isinstance(model, Txt2ImgPipeline):
        source = model.metadata.get("data_source") or TXT2IMG_DATA_SOURCE
        return _TextModel(model.to(device), str(source), label or "<Txt2ImgPipeline>")
    if isinstance(model, Checkpoint):
        return _PixelModel(
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
        return _PixelModel(net, schedule.to(device), tuple(class_names), str(source), "<model>")
    raise ParameterError(
        "model must be a checkpoint path, a Checkpoint, a Txt2ImgPipeline, or a tuple "
        "(model, schedule, class_names[, data_source])"
    )
