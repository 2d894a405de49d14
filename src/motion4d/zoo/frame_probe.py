"""Is frame index linearly decodable from a UNet3D's features at its temporal-attention inputs, for pure noise?

diffusers' ``TransformerTemporalModel`` (``transformer_in`` and every ``*.temp_attentions.N``) has no positional
embeddings, so temporal self-attention is permutation-equivariant over frames: whatever tells frame order to it
must already be in its input. For pure-noise latents the frames are i.i.d., so the only source of order is the
temporal convolutions (``TemporalConvLayer``: Conv3d kernel (3, 1, 1) with zero padding, which treats the first and
last frames differently, and whose receptive field grows by one frame per convolution).

:func:`frame_index_probe` measures it: ``samples`` pure-noise latents ``[N, C, F, h, w]`` at timestep ``t`` go
through the UNet once; a forward pre-hook on every temporal transformer keeps its input ``[N * F, C', h, w]``; per
layer, a ridge least-squares fit from the ``C'`` features of each (sample, frame, pixel) to the frame index is fit
on the first half of the samples and scored on the other half:

* ``r2``: held-out R^2 over all frames (0: no linear frame information; 1: frame index fully decodable);
* ``r2_interior``: the same fit scored on frames 1 .. F-2 only (does order information reach beyond the ends?);
* ``mean_pred``: the mean held-out prediction per frame (a ramp means order, a U-shape only "near an end").

``transformer_in`` sees ``conv_in`` of i.i.d. frames, so its R^2 is ~0 by construction: a built-in control.

:func:`reversal_asymmetry` asks the sharper question for *direction*: a network that commutes with time reversal R
(``F(R z) = R F(z)``) maps the reversal-symmetric noise distribution to a reversal-symmetric sample distribution, so
it moves left exactly as often as right whatever its weights. Temporal attention commutes with every frame
permutation (a LoRA on it too); only the temporal convolutions (an asymmetric kernel, the zero padding) break it.
The measure is ``||R F(R z) - F(z)|| / ||F(z) - mean_frames F(z)||``: the part of the output's frame-to-frame
variation that is not reversal-equivariant (0: no preferred direction is possible).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["frame_index_probe", "reversal_asymmetry"]


def _fit_r2(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
            ridge: float = 1e-3) -> tuple[np.ndarray, float]:
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-8
    a = np.c_[(x_train - mu) / sd, np.ones(len(x_train))]
    w = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ y_train)
    pred = np.c_[(x_test - mu) / sd, np.ones(len(x_test))] @ w
    return pred, float(1.0 - ((pred - y_test) ** 2).sum() / max(((y_test - y_test.mean()) ** 2).sum(), 1e-12))


@torch.no_grad()
def frame_index_probe(backbone, *, prompt: str = "", samples: int = 8, num_frames: int = 8, size: int = 64,
                      t: int | None = None, seed: int = 0, max_rows: int = 20000) -> list[dict]:
    """Per temporal transformer of ``backbone.denoiser`` (a UNet3D), in call order: ``{"layer", "channels", "r2",
    "r2_interior", "mean_pred"}`` (see the module docstring) for ``samples`` (>= 2, even split) pure-noise clips of
    ``num_frames`` (>= 3) frames at ``size`` pixels, timestep ``t`` (default: the last training timestep), text
    ``prompt``. At most ``max_rows`` rows per half are used (a seeded subset)."""
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    if samples < 2 or num_frames < 3:
        raise ValueError(f"the frame probe needs samples >= 2 and num_frames >= 3, got {samples} and {num_frames}")
    unet = backbone.denoiser
    t = int(backbone.scheduler_config.get("num_train_timesteps", 1000)) - 1 if t is None else int(t)
    feats: dict[str, torch.Tensor] = {}
    order: list[str] = []

    def hook(name):
        def pre(module, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            f = int(kwargs.get("num_frames", 1))
            feats[name] = h.detach().float().cpu().reshape(-1, f, *h.shape[1:])     # [N, F, C, h, w]
            order.append(name)
        return pre

    handles = [m.register_forward_pre_hook(hook(n), with_kwargs=True) for n, m in unet.named_modules()
               if isinstance(m, TransformerTemporalModel)]
    try:
        shape = backbone.latent_shape(samples, num_frames, size, size)
        z = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(backbone.device, backbone.dtype)
        text = backbone.encode_prompt([prompt] * samples)
        backbone.predict(z, t, text)
    finally:
        for h in handles:
            h.remove()
    rng = np.random.default_rng(seed)
    half = samples // 2
    rows = []
    for name in order:
        x = feats[name]                                                  # [N, F, C, h, w]
        n, f, c = x.shape[:3]
        x = x.permute(0, 1, 3, 4, 2).reshape(n, -1, c).numpy()          # [N, F*h*w, C]
        frame = np.repeat(np.arange(f), x.shape[1] // f).astype(np.float64)

        def part(lo, hi):
            xs, ys = x[lo:hi].reshape(-1, c), np.tile(frame, hi - lo)
            if len(xs) > max_rows:
                keep = rng.choice(len(xs), max_rows, replace=False)
                xs, ys = xs[keep], ys[keep]
            return xs.astype(np.float64), ys

        (xa, ya), (xb, yb) = part(0, half), part(half, n)
        pred, r2 = _fit_r2(xa, ya, xb, yb)
        inner = (yb > 0) & (yb < f - 1)
        r2_in = float(1.0 - ((pred[inner] - yb[inner]) ** 2).sum() / max(((yb[inner] - yb[inner].mean()) ** 2).sum(),
                                                                        1e-12))
        rows.append({"layer": name, "channels": int(c), "r2": round(r2, 4), "r2_interior": round(r2_in, 4),
                     "mean_pred": [round(float(pred[yb == k].mean()), 3) for k in range(f)]})
    return rows


@torch.no_grad()
def reversal_asymmetry(backbone, *, prompt: str = "", samples: int = 4, num_frames: int = 8, size: int = 64,
                       timesteps=(999, 500, 100), seed: int = 0) -> dict[int, float]:
    """``{t: ||R F(R z) - F(z)|| / ||F(z) - mean over frames||}`` of ``backbone.predict`` (adapters as they are) for
    ``samples`` pure-noise clips ``z`` and text ``prompt`` (see the module docstring)."""
    shape = backbone.latent_shape(samples, num_frames, size, size)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(backbone.device, backbone.dtype)
    text = backbone.encode_prompt([prompt] * samples)
    out = {}
    for t in timesteps:
        f = backbone.predict(z, int(t), text).float()
        fr = backbone.predict(z.flip(2), int(t), text).float().flip(2)
        out[int(t)] = round(float((fr - f).norm() / (f - f.mean(2, keepdim=True)).norm().clamp_min(1e-12)), 4)
    return out
