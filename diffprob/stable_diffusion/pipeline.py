"""From a prompt to sprites: tokenize, encode, denoise latents, decode.

:class:`Txt2ImgPipeline` holds the three trained parts and is only the loop, as
diffusers' pipelines are::

    prompt -> tokenizer -> ids, mask -> text encoder -> tokens tau(y)   (B, L, D)
    z_T ~ N(0, I) (B, 4, 8, 8) -> sampler steps with the text U-Net,
        eps~ = (1 + w) eps(z_t, tau(y)) - w eps(z_t, 0)        (classifier-free guidance)
    -> z_0 / scale + shift (latent_scaling) -> VAE decoder -> sprites (B, 3, 16, 16) -> uint8

The reverse process is the pixel model's own loop, :func:`~diffprob.diffusion.sampling.sample`,
with its samplers and :func:`~diffprob.diffusion.guidance.guided_eps`, less the final clamp
to the pixel range [-1, 1] (``clamp=False``), which would cut the latents (about N(0, 1)
after scaling). For the same reason the predicted z_0 is never clipped inside a step
(``clip_x0=False``).

An empty prompt is the null caption (an all-zero context): the unconditional model.

The pipeline is one file (:meth:`Txt2ImgPipeline.save`): every part's configuration and
weights, the tokenizer's vocabulary, the schedule, the latent scaling and the default
guidance, as plain dicts and tensors that ``torch.load(weights_only=True)`` reads.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from diffprob.diffusion.model_range import from_model_range
from diffprob.diffusion.models.inspect import model_image_shape
from diffprob.diffusion.samplers.config import SamplerConfig, check_guidance
from diffprob.diffusion.sampling import SampleResult, sample
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import CheckpointError, DataError, DiffprobError, ParameterError
from diffprob.stable_diffusion.autoencoder import SpriteVAE, VAEConfig
from diffprob.stable_diffusion.latent_scaling import LatentScaling
from diffprob.stable_diffusion.text_encoder import TextEncoder, TextEncoderConfig
from diffprob.stable_diffusion.text_unet import TextUNet, TextUNetConfig
from diffprob.stable_diffusion.tokenizer import CaptionTokenizer
from diffprob.util.atomic_save import torch_save_atomic
from diffprob.util.jsonable import to_jsonable
from diffprob.util.limits import MAX_BATCH, check_upper
from diffprob.util.paths import data_path
from diffprob.util.safe_load import load_weights_only
from diffprob.util.seeds import resolve_seed

__all__ = [
    "DEFAULT_GUIDANCE",
    "DEFAULT_N",
    "Txt2ImgPipeline",
    "Txt2ImgResult",
    "default_txt2img_path",
    "resolve_txt2img_path",
    "txt2img",
]

FORMAT_NAME = "diffprob-txt2img"
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT = ("checkpoints", "txt2img.pt")  # under the repository's data/
#: Guidance weight of a new pipeline (a saved pipeline keeps its own, see its model card).
DEFAULT_GUIDANCE = 3.0
#: Sprites drawn for one prompt when n is not given.
DEFAULT_N = 16
_PARTS = ("vae", "text_encoder", "unet")


def default_txt2img_path() -> Path:
    """Path of the shipped text-to-sprite pipeline, ``<repo>/data/checkpoints/txt2img.pt``."""
    return data_path(*DEFAULT_CHECKPOINT)


def resolve_txt2img_path(path=None) -> Path:
    """`path` as a Path; None means the shipped pipeline, which must be installed.

    Raises
    ------
    CheckpointError
        `path` is None and the shipped pipeline is missing.
    """
    if path is not None:
        return Path(path)
    shipped = default_txt2img_path()
    if not shipped.is_file():
        raise CheckpointError(
            f"the shipped text-to-sprite model {'/'.join(('data',) + DEFAULT_CHECKPOINT)!r} is "
            "not installed; train one with 'diffprob train-txt2img' and pass its path "
            "(CLI: --ckpt)"
        )
    return shipped


@dataclass
class Txt2ImgResult:
    """What a :class:`Txt2ImgPipeline` call returns.

    Attributes
    ----------
    images : numpy.ndarray
        (n, 16, 16, 3) uint8 RGB sprites.
    prompts : list of str
        The prompt of each sprite.
    x : torch.Tensor
        (n, 3, 16, 16) float decoded sprites in [-1, 1].
    latents : torch.Tensor or None
        (n, 4, 8, 8) final latents, scaled (as the U-Net saw them), if asked for.
    timesteps : list of int
        The timesteps visited.
    trajectory : list of torch.Tensor
        Decoded states (n, 3, 16, 16) in [-1, 1], from the noise to the sprites (empty
        unless ``trajectory_every`` > 0).
    trajectory_timesteps : list of int
        The t of each state of `trajectory`.
    info : dict
        Sampler settings, seed, seconds.
    """

    images: np.ndarray
    prompts: list
    x: torch.Tensor
    latents: torch.Tensor | None = None
    timesteps: list = field(default_factory=list)
    trajectory: list = field(default_factory=list)
    trajectory_timesteps: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def as_sample_result(self) -> SampleResult:
        """The run as a pixel-space :class:`~diffprob.diffusion.sampling.SampleResult`
        (for :func:`~diffprob.plot.animation.save_denoising_gif` and the grids)."""
        return SampleResult(
            images=self.x,
            timesteps=list(self.timesteps),
            trajectory=list(self.trajectory),
            trajectory_timesteps=list(self.trajectory_timesteps),
            context=None,
            info=dict(self.info),
        )


def _expand_prompts(prompts, n) -> list[str]:
    """One prompt per sprite: a str n times (default 16); k prompts n / k times each."""
    if isinstance(prompts, str):
        prompts, default = [prompts], DEFAULT_N
    else:
        prompts = list(prompts)
        default = len(prompts)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ParameterError("prompts must be a string or a non-empty sequence of strings")
    n = default if n is None else n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    check_upper("n", int(n), MAX_BATCH, "all sprites are drawn at once; draw several batches")
    if n % len(prompts):
        raise ParameterError(
            f"n ({n}) must be a multiple of the number of prompts ({len(prompts)})"
        )
    return [p for p in prompts for _ in range(int(n) // len(prompts))]


@dataclass
class Txt2ImgPipeline:
    """The text-to-sprite model: autoencoder, text encoder, tokenizer, U-Net, schedule.

    Parameters
    ----------
    vae : SpriteVAE
    text_encoder : TextEncoder
    tokenizer : CaptionTokenizer
    unet : TextUNet
        Its ``context_dim`` is the text encoder's width, its latent shape the VAE's.
    schedule : NoiseSchedule
        The schedule the U-Net was trained with.
    latent_scaling : LatentScaling or float
        How the autoencoder's latents were standardised for the U-Net
        (:class:`~diffprob.stable_diffusion.latent_scaling.LatentScaling`); undone before
        decoding. A number is Stable Diffusion's one global factor.
    guidance : float
        Default classifier-free guidance weight w.
    metadata : dict
        Free-form JSON values saved with the pipeline (training settings, ...).

    Examples
    --------
    >>> pipe = Txt2ImgPipeline.tiny(seed=0)  # untrained, for examples and tests
    >>> result = pipe("a red potion", n=4, generator=0, config=SamplerConfig(steps=3))
    >>> result.images.shape, result.images.dtype.name
    ((4, 16, 16, 3), 'uint8')
    >>> bool((pipe("a red potion", n=4, generator=0, config=SamplerConfig(steps=3)).images
    ...       == result.images).all())
    True
    """

    vae: SpriteVAE
    text_encoder: TextEncoder
    tokenizer: CaptionTokenizer
    unet: TextUNet
    schedule: NoiseSchedule
    latent_scaling: LatentScaling | float
    guidance: float = DEFAULT_GUIDANCE
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, kind in (
            ("vae", SpriteVAE),
            ("text_encoder", TextEncoder),
            ("tokenizer", CaptionTokenizer),
            ("unet", TextUNet),
            ("schedule", NoiseSchedule),
        ):
            if not isinstance(getattr(self, name), kind):
                raise ParameterError(
                    f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}"
                )
        self.latent_scaling = LatentScaling.coerce(
            self.latent_scaling, self.vae.config.latent_channels
        )
        self.guidance = check_guidance(self.guidance)
        text, unet, tok = self.text_encoder.config, self.unet.config, self.tokenizer
        latent = self.vae.config.latent_shape
        problems = []
        if unet.context_dim != text.width:
            problems.append(
                f"the U-Net reads {unet.context_dim}-wide tokens, the text encoder gives {text.width}"
            )
        if (unet.in_channels, unet.image_size, unet.image_size) != tuple(latent):
            problems.append(
                f"the U-Net's latents are {model_image_shape(self.unet)}, the VAE's {tuple(latent)}"
            )
        if tok.vocab_size != text.vocab_size or tok.max_length > text.max_length:
            problems.append(
                f"the tokenizer ({tok.vocab_size} ids, length {tok.max_length}) does not fit the "
                f"text encoder ({text.vocab_size} ids, length {text.max_length})"
            )
        if problems:
            raise ParameterError("the parts do not fit together: " + "; ".join(problems))
        for module in (self.vae, self.text_encoder, self.unet):
            module.eval()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def tiny(cls, seed: int = 0, **kwargs) -> Txt2ImgPipeline:
        """An untrained pipeline of tiny parts (a few thousand parameters), for tests and
        examples: random sprites, the real shapes and code paths."""
        from diffprob.stable_diffusion.text_unet import get_config

        tokenizer = CaptionTokenizer.default()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            vae = SpriteVAE(VAEConfig(channels=8))
            text = TextEncoder(
                TextEncoderConfig(
                    tokenizer.vocab_size,
                    tokenizer.max_length,
                    width=16,
                    layers=1,
                    heads=2,
                    embed_dim=8,
                )
            )
            unet = TextUNet(get_config("tiny", context_dim=16))
        kwargs.setdefault("schedule", NoiseSchedule(50))
        kwargs.setdefault("latent_scaling", 1.0)
        return cls(vae, text, tokenizer, unet, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device) -> Txt2ImgPipeline:
        """Move the three networks to `device` (in place) and return self."""
        for module in (self.vae, self.text_encoder, self.unet):
            module.to(device)
        return self

    def parameter_counts(self) -> dict:
        """Parameters of each network and in all."""
        counts = {name: sum(p.numel() for p in getattr(self, name).parameters()) for name in _PARTS}
        counts["total"] = sum(counts.values())
        return counts

    # -- the loop -----------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompts(self, prompts) -> torch.Tensor:
        """Token features (len(prompts), L, D) on the pipeline's device; an empty prompt
        gives the null caption, all zeros. Unknown words are a one-line ParameterError."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        unique = sorted({p for p in prompts if p.strip()})
        length = self.tokenizer.max_length
        context = torch.zeros(
            len(prompts), length, self.text_encoder.config.width, device=self.device
        )
        if unique:
            ids, mask = self.tokenizer.encode(unique)
            tokens, _ = self.text_encoder(ids.to(self.device), mask.to(self.device))
            row = {p: i for i, p in enumerate(unique)}
            for i, p in enumerate(prompts):
                if p.strip():
                    context[i] = tokens[row[p]]
        return context

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, 4, 8, 8) to sprites (B, 3, 16, 16) in [-1, 1], on the CPU."""
        z = self.latent_scaling.invert(latents.to(self.device))
        return self.vae.decode(z).clamp(-1, 1).cpu()

    def sampler_config(self, config: SamplerConfig | None = None, guidance=None) -> SamplerConfig:
        """The settings a call uses: `config` (default ``SamplerConfig()``), its guidance
        replaced by `guidance` if given, or by the pipeline's if no config was given,
        and ``clip_x0=False`` (latents are not bounded)."""
        if guidance is None and config is None:
            guidance = self.guidance
        options = {"clip_x0": False}
        if guidance is not None:
            options["guidance"] = guidance
        return SamplerConfig.from_options(config, **options)

    @torch.no_grad()
    def __call__(
        self,
        prompts,
        n: int | None = None,
        *,
        guidance: float | None = None,
        config: SamplerConfig | None = None,
        generator=None,
        return_latents: bool = False,
        trajectory_every: int = 0,
        progress: bool = False,
    ) -> Txt2ImgResult:
        """Draw sprites for `prompts`.

        Parameters
        ----------
        prompts : str or sequence of str
            One prompt (drawn `n` times) or several (each drawn ``n / len(prompts)``
            times, in order). ``""`` is the null caption (unconditional).
        n : int, optional
            Sprites in all (default :data:`DEFAULT_N` for one prompt, one per prompt
            for a sequence).
        guidance : float, optional
            Classifier-free guidance weight w >= 0 (default: `config`'s if a config is
            given, else the pipeline's :attr:`guidance`).
        config : SamplerConfig, optional
            Sampler, steps, spacing, eta (default ``SamplerConfig()``: DPM-Solver++(2M),
            25 steps). ``clip_x0`` is always off.
        generator : torch.Generator or int, optional
            Seeds the initial noise (and DDPM's or DDIM's step noise).
        return_latents : bool, optional
            Keep the final latents in the result.
        trajectory_every : int, optional
            If k > 0, keep the decoded state every k steps (for a GIF).
        progress : bool, optional
            A progress bar on stderr.
        """
        prompts = _expand_prompts(prompts, n)
        n = len(prompts)
        config = self.sampler_config(config, guidance)
        start = time.perf_counter()
        context = self.encode_prompts(prompts)
        run = sample(
            self.unet,
            self.schedule,
            n,
            context=context,
            config=config,
            generator=generator,
            trajectory_every=trajectory_every,
            progress=progress,
            clamp=False,  # latents, not pixels
        )
        z = run.images
        x = self.decode(z)
        info = {**run.info, "seconds": round(time.perf_counter() - start, 3)}
        return Txt2ImgResult(
            images=from_model_range(x),
            prompts=prompts,
            x=x,
            latents=z if return_latents else None,
            timesteps=list(run.timesteps),
            trajectory=[self.decode(state) for state in run.trajectory],
            trajectory_timesteps=list(run.trajectory_timesteps),
            info=info,
        )

    # -- files --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The pipeline as plain dicts, lists, numbers, strings and CPU tensors."""
        data = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
        for name in _PARTS:
            module = getattr(self, name)
            data[name] = {
                "config": module.config.to_dict(),
                "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            }
        data.update(
            tokenizer=self.tokenizer.to_dict(),
            schedule=self.schedule.config.to_dict(),
            latent_scaling=self.latent_scaling.to_dict(),
            guidance=self.guidance,
            metadata=to_jsonable(self.metadata),
        )
        return data

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole pipeline to one file, atomically (``torch.save`` of :meth:`to_dict`)."""
        torch_save_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, device="cpu") -> Txt2ImgPipeline:
        """Read a pipeline written by :meth:`save` (``weights_only=True``).

        Raises
        ------
        CheckpointError
            The file is missing or not a readable PyTorch file.
        DataError
            It is not a text-to-sprite pipeline, or a part's configuration or weights are
            malformed (one line naming what).
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{str(path)!r} does not exist or is not a file")
        data = load_weights_only(path, "diffprob txt2img pipeline")
        try:
            return cls.from_dict(data).to(device)
        except DataError as exc:
            raise DataError(f"{str(path)!r} {exc}") from None

    @classmethod
    def from_dict(cls, data) -> Txt2ImgPipeline:
        """The pipeline of :meth:`to_dict`; DataError (one line) if anything is malformed."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise DataError("is not a diffprob txt2img pipeline")
        if data.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"has txt2img format version {data.get('format_version')!r}; this diffprob "
                f"reads version {FORMAT_VERSION}"
            )
        builders = {
            "vae": (VAEConfig, SpriteVAE),
            "text_encoder": (TextEncoderConfig, TextEncoder),
            "unet": (TextUNetConfig, TextUNet),
        }
        try:
            parts = {
                name: _build_part(name, data.get(name), *kinds) for name, kinds in builders.items()
            }
            tokenizer = CaptionTokenizer.from_dict(data.get("tokenizer"))
            schedule = data.get("schedule")
            if not isinstance(schedule, dict):
                raise DataError("has no schedule configuration")
            metadata = data.get("metadata", {})
            if not isinstance(metadata, dict):
                raise DataError("has malformed metadata")
            return cls(
                tokenizer=tokenizer,
                schedule=NoiseSchedule.from_config(schedule),
                latent_scaling=LatentScaling.stored_in(data, parts["vae"].config.latent_channels),
                guidance=data.get("guidance", DEFAULT_GUIDANCE),
                metadata=metadata,
                **parts,
            )
        except DataError:
            raise
        except DiffprobError as exc:
            raise DataError(f"is malformed: {exc}") from None


def _build_part(name: str, entry, config_class, module_class) -> torch.nn.Module:
    """One network from its ``{"config", "state_dict"}`` entry; DataError if it does not fit."""
    if not isinstance(entry, dict) or set(entry) != {"config", "state_dict"}:
        raise DataError(f"has no well-formed {name!r} entry (config and state_dict)")
    state = entry["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise DataError(f"has a malformed {name} state_dict")
    try:
        module = module_class(config_class.from_dict(entry["config"]))
    except (DiffprobError, TypeError) as exc:
        raise DataError(f"has an invalid {name} configuration: {exc}") from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = [
            f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("wrong shape", wrong),
            )
            if keys
        ]
        raise DataError(
            f"has {name} weights that do not fit its configuration ({'; '.join(details)})"
        )
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise DataError(f"has non-finite {name} weights")
    module.load_state_dict(state)
    return module.eval()


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, mtime_ns: int, size: int) -> Txt2ImgPipeline:
    return Txt2ImgPipeline.load(path)


def load_pipeline(checkpoint=None, device="cpu") -> Txt2ImgPipeline:
    """The pipeline in `checkpoint` (default: the shipped one), kept in memory for the
    next call while the file is unchanged."""
    path = resolve_txt2img_path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} does not exist or is not a file")
    stat = path.stat()
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size).to(device)


def txt2img(
    prompt,
    n: int | None = None,
    *,
    checkpoint=None,
    guidance: float | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    steps: int | None = None,
    config: SamplerConfig | None = None,
    device=None,
    return_latents: bool = False,
    trajectory_every: int = 0,
    progress: bool = False,
) -> Txt2ImgResult:
    """Draw sprites for a prompt with the shipped (or another) text-to-sprite pipeline.

    Parameters
    ----------
    prompt : str or sequence of str
        As for :meth:`Txt2ImgPipeline.__call__`.
    n : int, optional
        Sprites in all (default 16 for one prompt).
    checkpoint : path, optional
        A pipeline file (default: ``data/checkpoints/txt2img.pt``).
    guidance : float, optional
        Classifier-free guidance weight (default: the pipeline's, or `config`'s if a
        config is given).
    seed : int, optional
        Seed of every random draw (default: a fresh one, in ``result.info["seed"]``).
    sampler, steps : optional
        Override `config`'s sampler and steps.
    config : SamplerConfig, optional
        Sampler settings (default DPM-Solver++(2M), 25 steps).
    device : str or torch.device, optional
        Where to run (default: the CPU).
    return_latents, trajectory_every, progress : optional
        As for :meth:`Txt2ImgPipeline.__call__`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.pt"
    >>> Txt2ImgPipeline.tiny().save(path)
    >>> a = txt2img("a red potion", 2, checkpoint=path, seed=3, steps=3)
    >>> b = txt2img("a red potion", 2, checkpoint=path, seed=3, steps=3)
    >>> a.images.shape, bool((a.images == b.images).all()), a.info["seed"]
    ((2, 16, 16, 3), True, 3)
    """
    from diffprob.diffusion.device import resolve_device

    pipe = load_pipeline(checkpoint, resolve_device("cpu" if device is None else device))
    options = {k: v for k, v in (("sampler", sampler), ("steps", steps)) if v is not None}
    if options:
        if config is None and guidance is None:
            guidance = pipe.guidance  # a config built here is not the caller's choice of w
        config = SamplerConfig.from_options(config, **options)
    seed = resolve_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    result = pipe(
        prompt,
        n,
        guidance=guidance,
        config=config,
        generator=generator,
        return_latents=return_latents,
        trajectory_every=trajectory_every,
        progress=progress,
    )
    result.info["seed"] = seed
    return result
