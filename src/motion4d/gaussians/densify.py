"""3DGS adaptive density control as a component any optimisation loop can drive.

After 3D Gaussian Splatting (Kerbl et al. 2023) and gsplat's ``DefaultStrategy``:

* **statistics**: after every backward, the screen-space gradient norm of each visible Gaussian's
  centre (in NDC units: pixels scaled by ``width/2``, ``height/2``, times the number of cameras,
  as gsplat does) is accumulated, with a visibility count, and the largest screen radius seen.
* **grow** (every ``refine_every`` steps in ``[refine_start, refine_stop)``): Gaussians whose mean
  gradient exceeds ``grad_threshold`` are *cloned* when small (max scale <= ``percent_dense *
  scene_extent``) or *split* into ``2`` when large: new centres sampled from the Gaussian, scales
  divided by ``split_scale`` (1.6).
* **prune**: opacity below ``min_opacity``; after the first opacity reset also world size above
  ``max_world_size * scene_extent`` or screen radius above ``max_screen_size`` (a fraction of the
  larger image side).
* **opacity reset** every ``reset_every`` steps: opacities are clamped to ``reset_opacity``.

Every change is applied to the :class:`~motion4d.gaussians.model.GaussianModel` parameters *and*
to the optimizers' per-parameter state (Adam's ``exp_avg``/``exp_avg_sq``): rows follow their
Gaussians, new rows start at zero, removed rows are dropped.

Usage::

    strategy = DensifyStrategy(scene_extent=1.0)
    state = strategy.init_state(model)
    for step in range(iters):
        out = render(model.gaussians(), cams)     # out.means2d retains its grad
        loss(out).backward()
        strategy.step_post_backward(model, optimizer, state, step, out)
        optimizer.step(); optimizer.zero_grad()
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from motion4d.gaussians.model import GaussianModel
from motion4d.gaussians.geometry import quat_to_rotmat

__all__ = ["DensifyStrategy", "update_parameters"]


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, torch.optim.Optimizer):
        return [x]
    if isinstance(x, dict):
        return list(x.values())
    return list(x)


@torch.no_grad()
def update_parameters(model: GaussianModel, optimizers, param_fn: Callable[[str, torch.Tensor], torch.Tensor],
                      state_fn: Callable[[str, str, torch.Tensor], torch.Tensor]) -> None:
    """Replace every per-Gaussian parameter of ``model`` and its optimizer state consistently.

    ``param_fn(name, data) -> new data`` gives the new tensor for parameter ``name``;
    ``state_fn(name, key, value) -> new value`` transforms each per-row optimizer state tensor
    (e.g. ``exp_avg``). ``optimizers``: an optimizer, a list or a dict of them; any param group
    that holds one of the model's parameters is updated in place.
    """
    opts = _as_list(optimizers)
    for name in GaussianModel.PARAM_NAMES:
        old = getattr(model, name)
        new = nn.Parameter(param_fn(name, old.data), requires_grad=old.requires_grad)
        for opt in opts:
            for group in opt.param_groups:
                for i, p in enumerate(group["params"]):
                    if p is not old:
                        continue
                    group["params"][i] = new
                    st = opt.state.pop(old, None)
                    if st is not None:
                        for key, val in list(st.items()):
                            if torch.is_tensor(val) and val.ndim > 0 and val.shape[0] == old.shape[0]:
                                st[key] = state_fn(name, key, val)
                        opt.state[new] = st
        setattr(model, name, new)


@dataclass
class DensifyStrategy:
    """Hyper-parameters of 3DGS densification (defaults follow 3DGS / gsplat, steps in iterations)."""

    grad_threshold: float = 2e-4
    percent_dense: float = 0.01
    split_count: int = 2
    split_scale: float = 1.6
    min_opacity: float = 0.005
    max_world_size: float = 0.1
    max_screen_size: float = 0.15
    reset_opacity: float = 0.01
    scene_extent: float = 1.0
    refine_start: int = 500
    refine_stop: int = 15000
    refine_every: int = 100
    reset_every: int = 3000
    max_gaussians: int | None = None

    def __post_init__(self) -> None:
        for key in ("grad_threshold", "percent_dense", "split_scale", "scene_extent", "max_world_size",
                    "max_screen_size"):
            if not getattr(self, key) > 0:
                raise ValueError(f"DensifyStrategy.{key} must be > 0, got {getattr(self, key)}")
        if self.split_count < 2:
            raise ValueError(f"DensifyStrategy.split_count must be >= 2, got {self.split_count}")
        if self.refine_every < 1 or self.reset_every < 1:
            raise ValueError("DensifyStrategy.refine_every and reset_every must be >= 1")
        if not 0 < self.reset_opacity < 1:
            raise ValueError(f"DensifyStrategy.reset_opacity must be in (0, 1), got {self.reset_opacity}")

    # -- state ------------------------------------------------------------------------------
    def init_state(self, model: GaussianModel) -> dict:
        """Fresh statistics for ``model``: ``grad2d [N]``, ``count [N]``, ``radii [N]`` (fraction of
        the image), and counters of what was done (``num_cloned``, ``num_split``, ``num_pruned``)."""
        n, dev = len(model), model.means.device
        return {"grad2d": torch.zeros(n, device=dev), "count": torch.zeros(n, device=dev),
                "radii": torch.zeros(n, device=dev), "num_cloned": 0, "num_split": 0, "num_pruned": 0}

    # -- driver -----------------------------------------------------------------------------
    def step_post_backward(self, model: GaussianModel, optimizers, state: dict, step: int,
                           render_output) -> dict:
        """Accumulate statistics from ``render_output`` (one ``RenderOutput`` or a sequence of them,
        after ``backward()``) and refine/prune/reset when ``step`` says so. Returns ``state``
        (updated in place) with ``last_action`` set to a short description or ``None``."""
        state["last_action"] = None
        if step >= self.refine_stop:
            return state
        outputs = render_output if isinstance(render_output, (list, tuple)) else [render_output]
        for out in outputs:
            self._update_stats(state, out, len(model))
        if step > self.refine_start and step % self.refine_every == 0:
            n_clone, n_split = self.grow(model, optimizers, state)
            n_prune = self.prune(model, optimizers, state, step)
            state.update(self.init_state(model), num_cloned=state["num_cloned"] + n_clone,
                         num_split=state["num_split"] + n_split, num_pruned=state["num_pruned"] + n_prune)
            state["last_action"] = f"step {step}: cloned {n_clone}, split {n_split}, pruned {n_prune} -> {len(model)}"
        if step > 0 and step % self.reset_every == 0:
            self.reset_opacities(model, optimizers)
            state["last_action"] = (state["last_action"] or f"step {step}:") + " opacity reset"
        return state

    @torch.no_grad()
    def _update_stats(self, state: dict, out, n: int) -> None:
        m2d = out.means2d
        if m2d.grad is None:
            raise ValueError("render_output.means2d has no .grad: call step_post_backward after backward() "
                             "on a loss of that render (render() retains it when the Gaussians require grad)")
        if m2d.shape[-2] != n:
            raise ValueError(f"render_output has {m2d.shape[-2]} Gaussians but the model has {n}")
        C, H, W = out.rgb.shape[0], out.rgb.shape[1], out.rgb.shape[2]
        grads = m2d.grad.detach().clone()
        grads[..., 0] *= W / 2.0 * C
        grads[..., 1] *= H / 2.0 * C
        visible = (out.radii > 0).all(dim=-1)  # [C, N]
        norms = grads.norm(dim=-1) * visible
        state["grad2d"] += norms.sum(0).to(state["grad2d"])
        state["count"] += visible.sum(0).to(state["count"])
        screen = out.radii.max(dim=-1).values.amax(0).to(state["radii"]) / float(max(W, H))
        state["radii"] = torch.maximum(state["radii"], screen)

    # -- operations -------------------------------------------------------------------------
    @torch.no_grad()
    def grow(self, model: GaussianModel, optimizers, state: dict) -> tuple[int, int]:
        """Clone small and split large high-gradient Gaussians. Returns ``(num_cloned, num_split)``."""
        avg = state["grad2d"] / state["count"].clamp_min(1)
        high = avg > self.grad_threshold
        small = model.scales.max(dim=-1).values <= self.percent_dense * self.scene_extent
        clone, split = high & small, high & ~small
        if self.max_gaussians is not None:
            room = max(self.max_gaussians - len(model), 0)
            clone = _keep_first(clone, room)
            split = _keep_first(split, max(room - int(clone.sum()), 0) // (self.split_count - 1))
        n_clone, n_split = int(clone.sum()), int(split.sum())
        if n_clone:
            self._clone(model, optimizers, clone)
            split = torch.cat([split, torch.zeros(n_clone, dtype=torch.bool, device=split.device)])
        if n_split:
            self._split(model, optimizers, split)
        return n_clone, n_split

    def _clone(self, model, optimizers, mask):
        idx = torch.nonzero(mask).squeeze(1)
        update_parameters(model, optimizers, lambda name, p: torch.cat([p, p[idx]]),
                          lambda name, key, v: torch.cat([v, torch.zeros_like(v[idx])]))

    def _split(self, model, optimizers, mask):
        k = self.split_count
        idx = torch.nonzero(mask).squeeze(1)
        rest = torch.nonzero(~mask).squeeze(1)
        scales = model.scales[idx]
        rot = quat_to_rotmat(model.quats[idx])
        samples = torch.randn(k, len(idx), 3, device=scales.device, dtype=scales.dtype) * scales
        new_means = (model.means[idx] + torch.einsum("nij,knj->kni", rot, samples)).reshape(-1, 3)

        def param_fn(name, p):
            if name == "means":
                new = new_means
            elif name == "log_scales":
                new = (p[idx] - math.log(self.split_scale)).repeat(k, 1)
            else:
                new = p[idx].repeat(k, *([1] * (p.ndim - 1)))
            return torch.cat([p[rest], new.to(p)])

        update_parameters(model, optimizers, param_fn,
                          lambda name, key, v: torch.cat([v[rest], torch.zeros_like(v[idx]).repeat(
                              k, *([1] * (v.ndim - 1)))]))

    @torch.no_grad()
    def prune(self, model: GaussianModel, optimizers, state: dict, step: int) -> int:
        """Remove transparent (and, after the first opacity reset, too large) Gaussians."""
        drop = model.opacities < self.min_opacity
        if step > self.reset_every:
            drop |= model.scales.max(dim=-1).values > self.max_world_size * self.scene_extent
            if state["radii"].shape[0] == len(model):
                drop |= state["radii"] > self.max_screen_size
        if drop.all():  # never leave the model empty
            drop[torch.argmax(model.opacities)] = False
        n = int(drop.sum())
        if n:
            self.remove(model, optimizers, drop)
        return n

    @staticmethod
    def remove(model: GaussianModel, optimizers, mask: torch.Tensor) -> None:
        """Drop the Gaussians where ``mask`` is true (parameters and optimizer rows)."""
        keep = torch.nonzero(~mask).squeeze(1)
        update_parameters(model, optimizers, lambda name, p: p[keep], lambda name, key, v: v[keep])

    @torch.no_grad()
    def reset_opacities(self, model: GaussianModel, optimizers) -> None:
        """Clamp opacities to ``reset_opacity`` and zero their optimizer moments."""
        limit = math.log(self.reset_opacity / (1 - self.reset_opacity))
        update_parameters(model, optimizers,
                          lambda name, p: p.clamp_max(limit) if name == "opacity_logits" else p,
                          lambda name, key, v: torch.zeros_like(v) if name == "opacity_logits" else v)


def _keep_first(mask: torch.Tensor, n: int) -> torch.Tensor:
    if int(mask.sum()) <= n:
        return mask
    out = torch.zeros_like(mask)
    out[torch.nonzero(mask).squeeze(1)[:n]] = True
    return out
