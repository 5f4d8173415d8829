"""What a run is about to learn from and for how long: the lines ``diffprob train`` prints
before the first step."""

from __future__ import annotations

from diffprob.diffusion.training.config import TrainConfig

__all__ = ["describe_run"]


def describe_run(data, config: TrainConfig) -> list[str]:
    """What a run is about to learn from and for how long: printed before it starts."""
    counts = ", ".join(
        f"{name} {k}" for name, k in zip(data.class_names, data.class_counts(), strict=True)
    )
    per_epoch = config.steps_per_epoch(len(data))
    total = config.total_steps(per_epoch)
    length = (
        f"training: {config.minutes:g} min of batch {config.batch_size} (the first steps "
        "measure the speed and set the number of steps; the progress bar shows the time left)"
        if total is None
        else f"training: {total} steps of batch {config.batch_size} = {total / per_epoch:.1f} "
        "epochs (the progress bar shows the time left)"
    )
    lines = [
        f"data: {len(data)} images from {data.source}, {data.image_size}x{data.image_size} RGB",
        f"  {data.num_classes} classes: {counts}",
        *(f"  {note}" for note in data.notes),
        length,
    ]
    return lines
