"""Differentiable tile rasterization on CPU: binning (torch) + numba compositing kernels.

:func:`composite` is the CPU backend's compositing step: it takes screen-space Gaussians for C
cameras and returns the composited features and alpha. Its gradients w.r.t. ``means2d``,
``conics``, ``opacities`` and ``features`` come from the hand-written backward kernel
(:func:`motion4d.render._kernels.rasterize_bwd`), exact up to floating point.

Data flow::

    bin_gaussians(means2d, radii, depths)  -> flat_ids [M], tile_offsets   (no grad)
    gather rows flat_ids of means2d/conics/opacities/features  (torch index_select: its backward
        scatters the per-intersection gradients back to the Gaussians)
    RasterizeTiles.apply(packed ...)       -> image [C,H,W,D], alpha [C,H,W,1]   (numba fwd/bwd)
"""
from __future__ import annotations

import torch

from motion4d.render.binning import TILE_SIZE, TileBins, bin_gaussians

__all__ = ["RasterizeTiles", "composite", "rasterize_packed"]


def _np(t: torch.Tensor):
    return t.detach().contiguous().numpy()


def _sigma_max(opacities: torch.Tensor):
    """Per-intersection bound on sigma beyond which ``alpha < 1/255`` for sure (see ``_kernels``)."""
    from motion4d.render._kernels import SIGMA_MARGIN

    return _np(torch.log(opacities.detach().clamp_min(1e-30) * 255.0) + SIGMA_MARGIN)


class RasterizeTiles(torch.autograd.Function):
    """Autograd wrapper of the numba kernels over packed intersections.

    Inputs: ``means2d [M,2]``, ``conics [M,3]``, ``opacities [M]``, ``features [M,D]`` (rows in
    tile order, see :mod:`motion4d.render._kernels`), ``tile_offsets [C*TY*TX+1]`` int64, and the
    image geometry. Outputs: ``image [C,H,W,D]`` and ``alpha [C,H,W,1]``.
    """

    @staticmethod
    def forward(ctx, means2d, conics, opacities, features, tile_offsets, num_cameras: int, width: int,
                height: int, tile_size: int, tiles_x: int, tiles_y: int):
        from motion4d.render import _kernels

        dtype = means2d.dtype
        D = features.shape[1]
        image = torch.empty(num_cameras, height, width, D, dtype=dtype)
        T_final = torch.empty(num_cameras, height, width, dtype=dtype)
        last = torch.empty(num_cameras, height, width, dtype=torch.int64)
        sigma_max = _sigma_max(opacities)
        args = (_np(means2d), _np(conics), _np(opacities), sigma_max, _np(features), _np(tile_offsets))
        geom = (width, height, tile_size, tiles_x, tiles_y)
        _kernels.rasterize_fwd(*args, *geom, image.numpy(), T_final.numpy(), last.numpy())
        ctx.save_for_backward(means2d, conics, opacities, features, tile_offsets, T_final, last)
        ctx.geom = geom
        return image, (1.0 - T_final)[..., None]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, v_image, v_alpha):
        from motion4d.render import _kernels

        means2d, conics, opacities, features, tile_offsets, T_final, last = ctx.saved_tensors
        g = [torch.zeros_like(t) for t in (means2d, conics, opacities, features)]
        if v_image is None:
            v_image = torch.zeros(*T_final.shape, features.shape[1], dtype=T_final.dtype)
        if v_alpha is None:
            v_alpha = torch.zeros_like(T_final)
        else:
            v_alpha = v_alpha[..., 0]
        _kernels.rasterize_bwd(_np(means2d), _np(conics), _np(opacities), _sigma_max(opacities), _np(features),
                               _np(tile_offsets),
                               *ctx.geom, _np(T_final), _np(last), _np(v_image.to(T_final.dtype)),
                               _np(v_alpha.to(T_final.dtype)), *(x.numpy() for x in g))
        return (*g, None, None, None, None, None, None, None)


def rasterize_packed(means2d, conics, opacities, features, tile_offsets, num_cameras, width, height,
                     tile_size=TILE_SIZE):
    """Run :class:`RasterizeTiles` on already packed intersections (see its docstring)."""
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    if tile_offsets.shape != (num_cameras * tiles_x * tiles_y + 1,):
        raise ValueError(f"tile_offsets must have {num_cameras * tiles_x * tiles_y + 1} entries for "
                         f"{num_cameras} camera(s) of {width}x{height}, got {tuple(tile_offsets.shape)}")
    return RasterizeTiles.apply(means2d, conics, opacities, features, tile_offsets, num_cameras, width,
                                height, tile_size, tiles_x, tiles_y)


def composite(means2d: torch.Tensor, conics: torch.Tensor, opacities: torch.Tensor, features: torch.Tensor,
              depths: torch.Tensor, radii: torch.Tensor, width: int, height: int, *,
              tile_size: int = TILE_SIZE, bins: TileBins | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Front-to-back alpha compositing of screen-space Gaussians into C images.

    Args:
        means2d: ``[C, N, 2]`` pixel positions (x right, y down; pixel (0, 0) spans [0, 1)^2).
        conics: ``[C, N, 3]`` upper triangle (a, b, c) of the inverse 2D covariance.
        opacities: ``[N]`` or ``[C, N]`` in [0, 1].
        features: ``[C, N, D]`` (or ``[N, D]``, shared by all cameras) values to composite.
        depths: ``[C, N]`` sort key (front = small); not differentiated here.
        radii: ``[C, N, 2]`` integer 3-sigma box half-sizes in pixels; 0 culls the Gaussian.
        width, height: image size in pixels.
        tile_size: tile edge in pixels (16 as in gsplat).
        bins: precomputed :func:`~motion4d.render.binning.bin_gaussians` result (optional).
    Returns:
        ``(image [C, H, W, D], alpha [C, H, W, 1])`` with ``image = sum_i f_i alpha_i T_i`` and
        ``alpha = 1 - prod_i (1 - alpha_i)``; differentiable w.r.t. ``means2d``, ``conics``,
        ``opacities`` and ``features``.
    """
    if means2d.device.type != "cpu":
        raise ValueError(f"the CPU rasterizer needs CPU tensors, got {means2d.device}")
    C, N = means2d.shape[:2]
    if conics.shape != (C, N, 3) or depths.shape != (C, N) or radii.shape != (C, N, 2):
        raise ValueError(f"composite: expected conics [C,N,3], depths [C,N], radii [C,N,2] with C={C}, N={N}; got "
                         f"{tuple(conics.shape)}, {tuple(depths.shape)}, {tuple(radii.shape)}")
    if features.ndim == 2:
        features = features[None].expand(C, -1, -1)
    if features.shape[:2] != (C, N):
        raise ValueError(f"composite: features must be [C, N, D] or [N, D], got {tuple(features.shape)}")
    if opacities.shape not in ((N,), (C, N)):
        raise ValueError(f"composite: opacities must be [N] or [C, N], got {tuple(opacities.shape)}")
    dtype = means2d.dtype
    if bins is None:
        bins = bin_gaussians(means2d, radii, depths, width, height, tile_size)
    ids = bins.flat_ids
    D = features.shape[-1]
    p_means = means2d.reshape(C * N, 2).index_select(0, ids)
    p_conics = conics.to(dtype).reshape(C * N, 3).index_select(0, ids)
    if opacities.ndim == 1:
        p_opac = opacities.to(dtype).index_select(0, ids % N) if N else opacities.to(dtype)[:0]
    else:
        p_opac = opacities.to(dtype).reshape(C * N).index_select(0, ids)
    p_feat = features.to(dtype).reshape(C * N, D).index_select(0, ids)
    return rasterize_packed(p_means, p_conics, p_opac, p_feat, bins.tile_offsets, C, width, height, tile_size)
