"""Captioning with a CLIP prefix: ClipCap and Unsupervised-ClipCap (torch, transformers).

Modules: :mod:`caption.model` (mapper + decoder), :mod:`caption.tokenizer`, :mod:`caption.data`
(training pairs), :mod:`caption.train` (the trainer, DDP under torchrun), :mod:`caption.checkpoint`
(run folders and :func:`caption.checkpoint.load_run`). Importing this package imports no torch.
"""
