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

from motion4d.guidance.base import Condition, Guidance, RenderSpec, cfg_combine, clean_grad, sds_loss, to_bchw

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


class MVDreamGuidance(Guidance):
    """Text-conditioned multi-view SDS. ``images``: ``B = n * views`` renders, grouped by sample
    (views of sample 0 first); ``condition``: ``prompt`` and the renders' cameras (``cameras`` or
    ``elevation``/``azimuth``/``radius``). Returns ``{"sds": loss}`` times ``weight``."""

    kind = "mvdream"
    needs = frozenset({"prompt", "cameras"})

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

    @torch.no_grad()
    def predict_noise(self, noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor, uncond: torch.Tensor,
                      camera: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(eps_cfg, eps_cond)`` for noisy latents ``[B, 4, h, w]`` (B a multiple of ``views``)."""
        B = noisy.shape[0]
        out = self.unet(torch.cat([noisy, noisy]).to(self.dtype), torch.cat([t, t]),
                        context=torch.cat([text.expand(B, -1, -1), uncond.expand(B, -1, -1)]),
                        camera=torch.cat([camera, camera]), num_frames=self.cfg.mvdream.views).float()
        cond, unc = out[:B], out[B:]
        return cfg_combine(cond, unc, scale, self.cfg.cfg_form), cond

    def losses(self, images: torch.Tensor, condition: Condition, step: int = 0) -> dict[str, torch.Tensor]:
        self.load()
        self.check_needs(condition)
        x = to_bchw(images).to(self.device_)
        B, V = x.shape[0], self.cfg.mvdream.views
        if B % V:
            raise ValueError(f"MVDream needs the renders in groups of {V} views; got a batch of {B}")
        camera = self.cameras_of(condition, B)
        latents = self.encode_images(self.vae, self.resize(x.float(), (self.cfg.height, self.cfg.width)))
        t = self.sample_timesteps(step, B // V, self.scheduler.config.num_train_timesteps).repeat_interleave(V)
        noise = self.randn(latents.shape)
        self.stats = {"t": t.detach().cpu()}
        noisy = self.scheduler.add_noise(latents.detach(), noise, t)
        text = self.prompts([condition.prompt])
        uncond = self.prompts([condition.negative_prompt or self.cfg.prompt.negative_prompt])
        eps, eps_cond = self.predict_noise(noisy, t, text, uncond, camera, self.value("guidance_scale", step))
        if not self.cfg.mvdream.recon_loss:
            loss, _ = self.sds_from_eps(latents, eps, noise, t, self.alphas_cumprod, step)
            return {"sds": self.value("weight", step) * loss}
        a = self.alphas_cumprod[t].float().reshape(-1, 1, 1, 1)
        recon = (noisy - (1 - a).sqrt() * eps) / a.sqrt()
        rescale = self.value("mvdream.recon_std_rescale", step)
        if rescale > 0:
            recon_nocfg = (noisy - (1 - a).sqrt() * eps_cond) / a.sqrt()
            std = lambda z: z.reshape(B // V, -1).std(dim=1) + 1e-8  # noqa: E731 - std per group of views
            factor = (std(recon_nocfg) / std(recon)).repeat_interleave(V).reshape(-1, 1, 1, 1)
            recon = rescale * recon * factor + (1 - rescale) * recon
        grad = clean_grad(latents.detach() - recon, self.value("grad_clip", step))
        return {"sds": self.value("weight", step) * sds_loss(latents, grad)}
