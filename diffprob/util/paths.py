"""Where the shipped files live: ``data/`` of the repository (a source checkout or an
editable install), the package's parent folder."""

from pathlib import Path

__all__ = ["DATA_DIR", "data_path"]

#: ``<repository>/data``: the sample photo, the shipped checkpoints and the classifier.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def data_path(*parts: str) -> Path:
    """A path under :data:`DATA_DIR`, e.g. ``data_path("checkpoints", "sprites16.pt")``."""
    return DATA_DIR.joinpath(*parts)
