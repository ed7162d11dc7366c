"""The version of gaptools, in a module of its own so that any module can import it during package init."""

__version__ = "0.1.0"
