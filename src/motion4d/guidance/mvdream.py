"""MVDream multi-view SDS (``ashawkey/mvdream-sd2.1-diffusers``; 4D-fy's 3D-aware prior).

Folder layout read: ``model_index.json`` (``MVDreamPipeline``), ``unet/`` (config +
``diffusion_pytorch_model.safetensors`` of :class:`~motion4d.guidance.mv_unet.MultiViewUNetModel`),
``vae/``, ``text_encoder/`` + ``tokenizer/`` (SD 2.1's OpenCLIP-H as ``CLIPTextModel``), ``scheduler/``.

Camera convention (MVDream ``camera_utils``): the model was trained with c2w matrices built in a
y-up OpenGL world (``azimuth 0`` on +Z, ``90`` on +X — the same orbit convention as motion4d), then
converted to Blender (z-up) with ``flip_yz = [[1,0,0,0],[0,0,-1,0],[0,1,0,0],[0,0,0,1]]``, translation
normalised to unit length, flattened row-major to 16 numbers. From motion4d's OpenCV c2w::

    c2w_gl  = c2w_cv @ diag(1, -1, -1, 1)
    camera  = normalise_t(flip_yz @ c2w_gl).reshape(16)

Loss (4D-fy / MVDream-threestudio, default): one timestep shared by the views of a sample, CFG 50 in
the standard form, x0-reconstruction target with CFG std rescale 0.5; ``mvdream.recon_loss=false``
gives plain SDS with ``w(t)``.
"""
from __future__ import annotations

import torch

from motion4d.guidance.base import SDSStep
from motion4d.guidance.condition import Condition, RenderSpec
from motion4d.guidance.text import TextGuidance

__all__ = ["MVDreamGuidance", "mvdream_camera", "FLIP_YZ"]

FLIP_YZ = torch.tensor([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
_CV_TO_GL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


def mvdream_camera(c2w: torch.Tensor) -> torch.Tensor:
    """MVDream camera vectors ``[B, 16]`` from motion4d (OpenCV, y-up world) camera-to-world ``[B, 4, 4]``."""
    c2w = torch.as_tensor(c2w, dtype=torch.float32).reshape(-1, 4, 4)
    m = FLIP_YZ.to(c2w.device) @ c2w @ _CV_TO_GL.to(c2w.device)
    m = m.clone()
    m[:, :3, 3] = m[:, :3, 3] / (m[:, :3, 3].norm(dim=-1, keepdim=True) + 1e-8)
    return m.reshape(-1, 16)


class MVDreamGuidance(TextGuidance):
    """Text-conditioned multi-view SDS. ``images``: ``B = n * views`` renders, grouped by sample
    (views of sample 0 first); ``condition``: ``prompt`` and the renders' cameras (``cameras`` or
    ``elevation``/``azimuth``/``radius``). Returns ``{"sds": loss}``."""

    kind = "mvdream"
    needs = frozenset({"prompt", "cameras"})

    @property
    def views_per_timestep(self) -> int:
        return self.cfg.mvdream.views

    @property
    def render_spec(self) -> RenderSpec:
        return RenderSpec(views=self.cfg.mvdream.views, height=self.cfg.height, width=self.cfg.width)

    def _load(self) -> None:
        from motion4d.guidance.mv_unet import MultiViewUNetModel

        self._load_text_diffusion(MultiViewUNetModel, "MVDream multi-view guidance", "MVDream model")

    def cameras_of(self, condition: Condition, batch: int) -> torch.Tensor:
        """MVDream camera vectors ``[batch, 16]`` for the renders."""
        if condition.cameras is not None:
            c2w = condition.cameras.c2w
        else:
            from motion4d.camera import Cameras

            el, az, r = condition.camera_params(batch)
            c2w = Cameras.orbit(el, az, r, width=8).c2w
        if len(c2w) != batch:
            raise ValueError(f"condition has {len(c2w)} cameras for {batch} renders")
        return mvdream_camera(c2w).to(self.device_)

    def encode_condition(self, condition: Condition, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(context [2B, L, D], camera [2B, 16])``: negative prompt then prompt; the same cameras in both halves."""
        camera = self.cameras_of(condition, batch).to(self.dtype)
        return self.text_batch(condition, batch), torch.cat([camera, camera])

    def predict_noise(self, latents_noisy: torch.Tensor, t: torch.Tensor,
                      cond: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        context, camera = cond
        return self.unet(latents_noisy, t, context=context, camera=camera, num_frames=self.cfg.mvdream.views)

    def score_gradient(self, s: SDSStep) -> torch.Tensor:
        """Plain SDS with ``mvdream.recon_loss=false``; else ``z - x0_hat`` (x0 reconstruction from the CFG
        noise, its std per sample rescaled towards the text-only reconstruction's by ``recon_std_rescale``)."""
        if not self.cfg.mvdream.recon_loss:
            return super().score_gradient(s)
        V = self.cfg.mvdream.views
        n = s.latents.shape[0] // V
        a = self.alphas_cumprod[s.t].float().reshape(-1, 1, 1, 1)
        recon = (s.noisy - (1 - a).sqrt() * s.eps) / a.sqrt()
        rescale = self.value("mvdream.recon_std_rescale", s.step)
        if rescale > 0:
            recon_nocfg = (s.noisy - (1 - a).sqrt() * s.eps_cond) / a.sqrt()
            std = lambda z: z.reshape(n, -1).std(dim=1) + 1e-8  # noqa: E731 - std per group of views
            factor = (std(recon_nocfg) / std(recon)).repeat_interleave(V).reshape(-1, 1, 1, 1)
            recon = rescale * recon * factor + (1 - rescale) * recon
        return s.latents.detach() - recon
