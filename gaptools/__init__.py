"""gaptools: measure and correct the modality gap of CLIP-like models."""

__version__ = "0.1.0"
