"""Diffusion Bridge: a denoising diffusion model of caption embeddings pulls images toward text.

Reference: Lee, Yoon, Lee & Kim 2025, "Diffusion Bridge: Leveraging Diffusion Model to Reduce
the Modality Gap Between Text and Vision for Zero-Shot Image Captioning", CVPR (official code:
github.com/mongeoroo/diffusion-bridge).

What their released code does (``ddpm/train_norm.py``, ``make_dataset_with_diffusion_vision.py``
and ``GaussianDiffusion1D_norm``): caption embeddings are C3-collapsed (unit length, minus the
mean of the normalised captions, unit length again) and scaled by 5; a 1-D U-Net is trained on
them alone to predict x₀ (1,000 steps, cosine schedule, batch 64, learning rate 8e-5, an EMA of
the weights at 0.995, 3,000,000 steps configured); every noisy input is scaled back to norm 5
before the network sees it. At inference an image embedding, collapsed with the image mean and
scaled by 5, is taken as the sample at step ``inference_step`` (600), run through 5
deterministic DDIM steps (renormalised to norm 5 before each) and L2-normalised.

This module keeps that recipe, with the schedules of Hugging Face ``diffusers``
(``DDPMScheduler.add_noise`` in training, ``DDIMScheduler.step`` for the reverse process) and a
small residual MLP in place of the U-Net (see :func:`denoiser`). torch and diffusers load only
when a bridge is fitted or applied (the ``bridge`` extra).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from gaptools.align.base import Aligner
from gaptools.errors import GapToolsError, InputError
from gaptools.limits import check_needs
from gaptools.metrics import l2_normalize
from gaptools.validation import MAX_SEED

#: The extra that brings torch and diffusers.
EXTRA = "bridge"
#: Rows denoised at once by ``transform`` (bounds the activations held: rows × width floats per layer).
CHUNK_ROWS = 8192
#: Sinusoidal features of the timestep, and the width of the time embedding e(t) made from them.
TIME_FEATURES = 64


def _require():
    """torch, torch.nn.functional and diffusers' two schedulers, or one clear error naming the extra."""
    try:
        import torch
        import torch.nn.functional as F
        from diffusers import DDIMScheduler, DDPMScheduler
    except ImportError as exc:
        raise GapToolsError(
            f"the diffusion-bridge aligner needs torch and diffusers ({exc.name} is missing), which gaptools' "
            f"'{EXTRA}' extra installs",
            hint=f"pip install 'gaptools[{EXTRA}]'",
        ) from None
    return torch, F, DDPMScheduler, DDIMScheduler


def collapse(X: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """C3's collapse: rows to unit length, minus ``mean``, to unit length again.

    Parameters
    ----------
    X : ndarray, shape (N, D)
    mean : ndarray, shape (D,)
        The mean of the L2-normalised rows of the modality (the fitted ``mean_img_`` or ``mean_txt_``).

    Returns
    -------
    ndarray, shape (N, D), float32
        Unit rows; a row that is the mean itself (nothing left after the subtraction, norm below
        1e-6) stays the zero vector, which :func:`uncollapse` sends to the other mean.
    """
    centred = l2_normalize(X).astype(np.float64) - mean
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return (centred / np.where(norms > 1e-6, norms, np.inf)).astype(np.float32)


def uncollapse(U: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Collapsed unit rows back into the space of the modality whose ``mean`` it is: ``r·u + mean``.

    ``r = sqrt(1 − ‖mean‖²)`` is the root-mean-square norm of ``x − mean`` over unit rows ``x`` whose
    mean is ``mean`` (``E‖x − m‖² = 1 − ‖m‖²``), the radius that the collapse divided out on average.

    Parameters
    ----------
    U : ndarray, shape (N, D)
        Unit rows in the collapsed space.
    mean : ndarray, shape (D,)

    Returns
    -------
    ndarray, shape (N, D), float64
        Not renormalised.
    """
    radius = math.sqrt(max(0.0, 1.0 - float(mean @ mean)))
    return radius * np.asarray(U, dtype=np.float64) + mean


#: The denoiser's arrays, in its parameters' order (each saved as ``NAME_``).
DENOISER_ARRAYS = ("time_weight", "time_bias", "in_weight", "in_bias", "skip_weight", "skip_bias",
                   "block_weight1", "block_bias1", "block_time", "block_weight2", "block_bias2",
                   "out_weight", "out_bias")
#: Arrays a new denoiser starts at zero: every bias, and the last layer of each block and of the
#: network, so that it starts as x̂₀ = g(t)·x with every block the identity.
_ZERO_INIT = ("time_bias", "in_bias", "skip_bias", "block_bias1", "block_weight2", "block_bias2",
              "out_weight", "out_bias")


def denoiser_shapes(dim: int, width: int, blocks: int) -> dict[str, tuple[int, ...]]:
    """``{NAME: shape}`` of the arrays of a denoiser of ``dim``-dimensional embeddings (weights are (in, out))."""
    w, b, f = width, blocks, TIME_FEATURES
    return {"time_weight": (f, f), "time_bias": (f,), "in_weight": (dim, w), "in_bias": (w,),
            "skip_weight": (f, 1), "skip_bias": (1,), "block_weight1": (b, w, w), "block_bias1": (b, w),
            "block_time": (b, f, w), "block_weight2": (b, w, w), "block_bias2": (b, w),
            "out_weight": (w, dim), "out_bias": (dim,)}


def new_denoiser(dim: int, width: int, blocks: int, generator):
    """A freshly initialised :func:`denoiser`: weights uniform in ±1/sqrt(fan-in) (torch's rule for
    ``nn.Linear``), drawn from ``generator`` in :data:`DENOISER_ARRAYS` order; :data:`_ZERO_INIT` at zero."""
    torch = _require()[0]
    params = {}
    for name, shape in denoiser_shapes(dim, width, blocks).items():
        if name in _ZERO_INIT:
            params[name] = torch.zeros(shape)
        else:
            params[name] = (torch.rand(shape, generator=generator) * 2 - 1) / math.sqrt(shape[-2])
    return denoiser(params)


def denoiser(params: dict):
    """The x₀-predicting residual MLP with weights ``params`` ({NAME: float32 tensor or ndarray}).

    ``x̂₀ = g(t)·x + LN(h_L)·W_out + b_out`` with ``h_0 = x·W_in + b_in`` and residual blocks
    ``h_{l+1} = h_l + SiLU(LN(h_l)·W1_l + b1_l + e(t)·T_l)·W2_l + b2_l``; ``e(t)`` is SiLU of a
    linear map of :data:`TIME_FEATURES` sinusoidal features of t, ``g(t) = e(t)·w_skip + b_skip`` a learned
    scalar skip gain (a hidden width below D could not pass x through otherwise), LN a layer norm
    without parameters.

    Why an MLP rather than their 1-D U-Net: the U-Net's convolutions treat neighbouring coordinates
    of an embedding as neighbours, which they are not; an MLP sees every coordinate at once and costs
    about 2·D·width + blocks·2·width² multiply-adds per row, what a CPU fit of seconds needs.

    Returns
    -------
    torch.nn.Module
        ``forward(x (B, D) float32, t (B,) int64) -> x̂₀ (B, D)``; its parameters are named as the arrays.
    """
    torch = _require()[0]
    module = _module_class()()
    for name in DENOISER_ARRAYS:
        value = params[name]
        tensor = torch.from_numpy(np.asarray(value, dtype=np.float32)) if isinstance(value, np.ndarray) else value
        module.register_parameter(name, torch.nn.Parameter(tensor.contiguous()))
    return module


@functools.cache
def _module_class():
    """The module class of :func:`denoiser` (defined on first use, so that importing this file needs no torch)."""
    torch, F, _, _ = _require()

    class ResidualMLP(torch.nn.Module):
        def time_features(self, t):  # (B,) int -> (B, TIME_FEATURES): sines and cosines at geometric frequencies
            half = TIME_FEATURES // 2
            freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / max(1, half - 1)))
            angles = t.to(torch.float32)[:, None] * freqs[None, :]  # (B, half)
            return torch.cat((angles.sin(), angles.cos()), dim=1)

        def forward(self, x, t):  # x (B, D), t (B,) -> x̂₀ (B, D)
            e = F.silu(self.time_features(t) @ self.time_weight + self.time_bias)  # (B, TIME_FEATURES)
            h = x @ self.in_weight + self.in_bias  # (B, W)
            for k in range(self.block_weight1.shape[0]):
                z = F.silu(F.layer_norm(h, h.shape[1:]) @ self.block_weight1[k] + self.block_bias1[k]
                           + e @ self.block_time[k])  # (B, W)
                h = h + z @ self.block_weight2[k] + self.block_bias2[k]
            gain = e @ self.skip_weight + self.skip_bias  # (B, 1)
            return gain * x + F.layer_norm(h, h.shape[1:]) @ self.out_weight + self.out_bias

    return ResidualMLP


class DiffusionBridge(Aligner):
    """Images denoised into caption embeddings by a diffusion model trained on the captions alone.

    ``fit(X_img, X_txt)`` takes the means of the normalised images and captions (the images are
    used for nothing else and pairs are never read), C3-collapses the captions, scales them by
    ``scale`` and trains a :func:`denoiser` to predict x₀ from ``DDPMScheduler.add_noise``
    samples (each scaled back to norm ``scale``), for ``train_steps`` AdamW steps, keeping an EMA
    of the weights (the EMA is what is saved and applied).

    ``transform`` collapses images with the image mean, scales them by ``scale``, takes them as
    the sample at step ``start_step`` of the ``diffusion_steps``-step chain and runs
    ``sampling_steps`` deterministic DDIM steps (``DDIMScheduler``, η = 0) down to step 0, each
    input renormalised to norm ``scale`` first, as in the released code. The denoised vector is
    made unit length, taken back into the fit captions' space by :func:`uncollapse` (times
    ``sqrt(1 − ‖mean_txt_‖²)``, plus the caption mean) and, with ``renormalize``, unit length again,
    so it composes like every other aligner. ``start_step=0`` denoises nothing (the map is the
    collapse with the image mean and :func:`uncollapse` with the text mean alone); more
    ``sampling_steps`` than ``start_step`` are capped at ``start_step``. With ``add_noise`` the
    collapsed images are first noised to step ``start_step`` (``DDPMScheduler.add_noise``, seeded
    by ``seed``), SDEdit's way: at the last step the output then no longer depends on the input.

    ``inverse_transform`` (texts toward images) is our extension and denoises nothing, since the
    method trains no model of images: texts are collapsed with the caption mean and uncollapsed
    with the image mean (the ``start_step=0`` map, the other way).

    A C3-trained captioner (``caption train --subtract-text-mean``) gets the collapsed form from
    ``caption eval --aligner`` itself, which normalises the aligned embeddings and subtracts the
    run's text mean; with ``renormalize=False``, ``transform(X) − mean_txt_`` is exactly
    ``sqrt(1 − ‖mean_txt_‖²)`` times the unit denoised vectors.

    Deterministic on CPU for a given ``seed`` (initialisation, batches, noise draws) and torch thread count.

    Learned state: ``mean_img_``, ``mean_txt_`` (D,) float64; the EMA weights of the denoiser as
    float32 arrays (see :meth:`state_shapes`).

    Parameters
    ----------
    start_step : int
        t*, the step of the chain an image enters at, in [0, diffusion_steps) (default 600, theirs).
    sampling_steps : int
        DDIM steps from ``start_step`` to 0, >= 1 (default 5, theirs); capped at ``start_step``.
    diffusion_steps : int
        Steps of the cosine-schedule chain (diffusers' ``squaredcos_cap_v2``), default 1,000.
    scale : float
        Norm of the collapsed embeddings the model works on, > 0 (default 5, theirs).
    add_noise : bool
        Noise the collapsed images to ``start_step`` before denoising (default False: the released
        code takes the image as the sample at that step without noise).
    train_steps : int
        Optimiser steps (default 1,000; they configure 3,000,000).
    batch_size : int
        Captions per step (default 128; theirs 64).
    lr : float
        AdamW learning rate, decayed linearly to 0 (default 1e-3; theirs 8e-5, constant).
    ema_decay : float
        Decay of the weight average, in [0, 1) (default 0.995, theirs).
    width : int
        Hidden width of the denoiser (default 256).
    blocks : int
        Residual blocks of the denoiser (default 2).
    seed : int
        Seed of the initialisation, the batches and every noise draw.
    renormalize : bool
    """

    name = "diffusion-bridge"
    state = ("mean_img_", "mean_txt_", *(f"{name}_" for name in DENOISER_ARRAYS))

    def __init__(self, *, start_step: int = 600, sampling_steps: int = 5, diffusion_steps: int = 1000,
                 scale: float = 5.0, add_noise: bool = False, train_steps: int = 1000, batch_size: int = 128,
                 lr: float = 1e-3, ema_decay: float = 0.995, width: int = 256, blocks: int = 2, seed: int = 0,
                 renormalize: bool = True) -> None:
        self.start_step = start_step
        self.sampling_steps = sampling_steps
        self.diffusion_steps = diffusion_steps
        self.scale = scale
        self.add_noise = add_noise
        self.train_steps = train_steps
        self.batch_size = batch_size
        self.lr = lr
        self.ema_decay = ema_decay
        self.width = width
        self.blocks = blocks
        self.seed = seed
        self.renormalize = renormalize

    def _check_params(self):
        super()._check_params()
        for key, low in (("diffusion_steps", 1), ("sampling_steps", 1), ("train_steps", 1), ("batch_size", 1),
                         ("width", 1), ("blocks", 0), ("seed", 0), ("start_step", 0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{self.name}: {key} must be an integer >= {low}, got {value!r}")
        if self.seed > MAX_SEED:
            raise InputError(f"{self.name}: seed must be in [0, {MAX_SEED}], got {self.seed}")
        if self.start_step >= self.diffusion_steps:
            raise InputError(f"{self.name}: start_step must be in [0, {self.diffusion_steps}) "
                             f"(diffusion_steps {self.diffusion_steps}), got {self.start_step}")
        for key in ("scale", "lr"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise InputError(f"{self.name}: {key} must be a positive finite number, got {value!r}")
        d = self.ema_decay
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < 1:
            raise InputError(f"{self.name}: ema_decay must be in [0, 1), got {d!r}")
        if not isinstance(self.add_noise, bool):
            raise InputError(f"{self.name}: add_noise must be true or false, got {self.add_noise!r}")

    def memory_needs(self, dim: int, n_image: int = 0, n_text: int = 0) -> dict[str, int]:
        """Bytes of the largest allocations a fit on ``n_text`` captions (0: applying) asks for, by what.

        Every size-like parameter enters: ``width`` and ``blocks`` (the denoiser's weights, with
        their gradients, AdamW's two moments and the EMA while fitting), ``diffusion_steps`` (the
        schedule: diffusers builds it as Python floats and tensors, ~64 bytes a step) and
        ``batch_size`` (activations, capped at the captions; :data:`CHUNK_ROWS` rows when applying).
        Checked against the budget (:func:`gaptools.limits.check_needs`) before anything is built.
        """
        weights = sum(math.prod(shape) for shape in denoiser_shapes(dim, self.width, self.blocks).values())
        rows = min(self.batch_size, n_text) if n_text else CHUNK_ROWS
        layer = max(self.width, dim, TIME_FEATURES)
        return {
            f"the denoiser's weights (width {self.width}, blocks {self.blocks}, D = {dim})":
                4 * weights * (5 if n_text else 2),
            f"the noise schedule (diffusion_steps {self.diffusion_steps})": 64 * self.diffusion_steps,
            f"the activations of {rows} rows (width {self.width}, blocks {self.blocks})":
                4 * rows * layer * (8 * self.blocks + 8) * (2 if n_text else 1),
            f"the {n_text} collapsed captions": 32 * n_text * dim,
        }

    def state_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        """Shape of every learned array for embeddings of ``dim`` dimensions (what a loaded file must match)."""
        shapes = denoiser_shapes(dim, self.width, self.blocks)
        return {"mean_img_": (dim,), "mean_txt_": (dim,), **{f"{name}_": shape for name, shape in shapes.items()}}

    # ------------------------------------------------------------------ fitting

    def _fit(self, X_img, X_txt, pairs):
        if len(X_txt) < 2:
            raise InputError(f"{self.name}.fit: needs at least 2 caption embeddings to train on, got {len(X_txt)}")
        torch, F, DDPMScheduler, _ = _require()
        mean_img = l2_normalize(X_img).astype(np.float64).mean(axis=0)
        mean_txt = l2_normalize(X_txt).astype(np.float64).mean(axis=0)
        if np.abs(l2_normalize(X_txt) - mean_txt).max() <= np.finfo(np.float32).eps:  # collapse would divide 0 by 0
            raise InputError(f"{self.name}.fit: the captions have no spread (all {len(X_txt)} point the same way), "
                             "so there is nothing to train on")
        x0 = torch.from_numpy(self.scale * collapse(X_txt, mean_txt))  # (N, D) float32, norm `scale`
        gen = torch.Generator().manual_seed(self.seed)
        net = new_denoiser(X_txt.shape[1], self.width, self.blocks, gen)
        ema = [p.detach().clone() for p in net.parameters()]
        noise_schedule = self._ddpm(DDPMScheduler)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=0.0)
        decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / self.train_steps)
        n, batch = len(x0), min(self.batch_size, len(x0))
        for _ in range(self.train_steps):
            rows = torch.randint(n, (batch,), generator=gen)
            t = torch.randint(self.diffusion_steps, (batch,), generator=gen)
            noise = torch.randn(batch, x0.shape[1], generator=gen)
            target = x0[rows]
            xt = noise_schedule.add_noise(target, noise, t)
            loss = F.mse_loss(net(F.normalize(xt, dim=1) * self.scale, t), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            decay.step()
            with torch.no_grad():
                for average, param in zip(ema, net.parameters()):
                    average.lerp_(param, 1.0 - self.ema_decay)
        if not (all(torch.isfinite(average).all() for average in ema) and torch.isfinite(loss)):
            raise InputError(f"{self.name}.fit: training diverged at lr={self.lr:g} (the loss or the weights "
                             "became NaN or Inf); nothing was kept", hint="lower lr (default 1e-3)")
        self.mean_img_, self.mean_txt_ = mean_img, mean_txt
        for name, value in zip(DENOISER_ARRAYS, ema):
            setattr(self, f"{name}_", value.numpy().copy())

    def _ddpm(self, DDPMScheduler):
        """The training chain: ``diffusion_steps`` steps of diffusers' cosine schedule, x₀ prediction."""
        return DDPMScheduler(num_train_timesteps=self.diffusion_steps, beta_schedule="squaredcos_cap_v2",
                             prediction_type="sample", clip_sample=False)

    # ------------------------------------------------------------------ mapping

    def _forward(self, X):
        self._check_params()  # start_step, sampling_steps and add_noise may be set anew between applies
        check_needs(self.memory_needs(self.dim_), source=self.name)
        U = collapse(X, self.mean_img_)
        if self.start_step > 0:
            U = self._denoise(U)
        return uncollapse(U, self.mean_txt_)

    def _backward(self, X):
        return uncollapse(collapse(X, self.mean_txt_), self.mean_img_)

    def reverse_schedule(self):
        """The ``DDIMScheduler`` of the reverse process, its timesteps set (``start_step`` >= 1).

        The first ``start_step`` steps of the chain as a scheduler of their own: its
        ``alphas_cumprod`` are those of the full chain there, and "trailing" spacing puts its first
        step at ``start_step − 1`` and the others ``start_step / S`` apart (S the capped
        ``sampling_steps``); the last one lands on x₀ (``set_alpha_to_one``). For 600 and 5:
        599, 479, 359, 239, 119, the times of the released code's ``linspace(-1, t* − 1, S + 1)``.
        """
        _, _, DDPMScheduler, DDIMScheduler = _require()
        betas = self._ddpm(DDPMScheduler).betas[:self.start_step].numpy()
        ddim = DDIMScheduler(num_train_timesteps=self.start_step, trained_betas=betas, prediction_type="sample",
                             clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing")
        ddim.set_timesteps(min(self.sampling_steps, self.start_step))
        return ddim

    def _denoise(self, U: np.ndarray) -> np.ndarray:
        """DDIM from ``start_step`` to 0 on collapsed unit rows U (N, D); unit rows back (float32)."""
        torch, F, DDPMScheduler, _ = _require()
        ddpm, ddim = self._ddpm(DDPMScheduler), self.reverse_schedule()
        net = denoiser({name: getattr(self, f"{name}_") for name in DENOISER_ARRAYS})
        gen = torch.Generator().manual_seed(self.seed)
        out = np.empty(U.shape, dtype=np.float32)
        with torch.no_grad():
            for lo in range(0, len(U), CHUNK_ROWS):
                x = torch.from_numpy(np.ascontiguousarray(U[lo:lo + CHUNK_ROWS], dtype=np.float32)) * self.scale
                if self.add_noise:
                    noise = torch.randn(x.shape, generator=gen)
                    x = ddpm.add_noise(x, noise, torch.full((len(x),), self.start_step - 1))
                for t in ddim.timesteps:
                    x = F.normalize(x, dim=1) * self.scale
                    x = ddim.step(net(x, t.expand(len(x))), t, x).prev_sample
                out[lo:lo + len(x)] = F.normalize(x, dim=1).numpy()
        return out


