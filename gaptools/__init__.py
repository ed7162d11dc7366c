"""gaptools: measure and correct the modality gap of CLIP-like models."""

__version__ = "0.1.0"

from gaptools.mixing import mixup  # noqa: E402  (needs __version__ above, through gaptools.io)

__all__ = ["__version__", "mixup"]
