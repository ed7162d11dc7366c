"""Captioning with a CLIP prefix: ClipCap and Unsupervised-ClipCap (torch, transformers).

Modules: :mod:`gaptools.caption.model` (mapper + decoder), :mod:`gaptools.caption.tokenizer`, :mod:`gaptools.caption.data`
(training pairs), :mod:`gaptools.caption.train` (the trainer, DDP under torchrun), :mod:`gaptools.caption.checkpoint`
(run folders and :func:`gaptools.caption.checkpoint.load_run`). Importing this package imports no torch.
"""
