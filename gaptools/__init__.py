"""gaptools: measure and correct the modality gap of CLIP-like models."""

from gaptools._version import __version__
from gaptools.mixing import mixup

__all__ = ["__version__", "mixup"]
