"""Stable Diffusion guidance: SDS (DreamFusion) and VSD (ProlificDreamer, 4D-fy's image prior).

Model: ``stabilityai/stable-diffusion-2-1-base`` (512 px, epsilon prediction) or any folder in the
``StableDiffusionPipeline`` layout (``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``).

* ``type: sd``  — SDS: ``grad = w(t) (eps_cfg - eps)``, CFG 100 in threestudio's ``plus`` form by default.
* ``type: vsd`` — VSD: ``grad = w(t) (eps_pretrained_cfg - eps_lora)``, CFG 7.5 (standard form) on the
  pretrained model and ``vsd.lora_guidance_scale`` (1.0) on the LoRA model. The LoRA is a peft adapter
  on the *same* UNet (switched off for the pretrained prediction, so no second UNet is held in memory),
  plus a camera embedding ``TimestepEmbedding(16, time_embed_dim)`` of the flattened c2w fed as the UNet's
  ``class_embedding`` (dropped to zeros with probability ``vsd.camera_drop`` during LoRA training).
  The LoRA is trained with the denoising loss at ``t ~ U(0, T)`` on the detached render latents,
  alternating with the scene: by default inside :meth:`losses` (``vsd.train_in_step``), or by calling
  :meth:`StableDiffusionGuidance.update_vsd` after the scene's optimiser step.
  4D-fy puts the LoRA on a separate model, the 768-px v-prediction ``stabilityai/stable-diffusion-2-1``:
  set ``vsd.lora_model`` for that (it shares the pretrained model's text encoder and VAE).
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F

from motion4d.guidance.base import Condition, Guidance, RenderSpec, cfg_combine, predicted_eps, to_bchw
from motion4d.guidance.prompts import view_suffix

__all__ = ["StableDiffusionGuidance"]

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


class StableDiffusionGuidance(Guidance):
    """SDS or VSD with a Stable Diffusion checkpoint. ``condition``: ``prompt`` (+ cameras for
    view-dependent prompts and the VSD camera embedding). Returns ``{"sds": loss}`` or ``{"vsd": loss}``.
    After each call ``self.stats`` holds the timesteps and, for VSD, the LoRA loss."""

    kind = "sd"
    needs = frozenset({"prompt"})

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.vsd = cfg.type == "vsd"
        self.kind = "vsd" if self.vsd else "sd"
        self._last: tuple | None = None

    @property
    def render_spec(self) -> RenderSpec:
        return RenderSpec(views=1, height=self.cfg.height, width=self.cfg.width)

    def _load(self) -> None:
        from diffusers import UNet2DConditionModel

        from motion4d.guidance.loading import check_layout, load_component, load_scheduler, resolve_model

        self._load_text_diffusion(UNet2DConditionModel, "Stable Diffusion " + ("VSD" if self.vsd else "SDS")
                                  + " guidance", "Stable Diffusion model")
        dev, dt = self.device_, self.dtype
        self.lora_unet, self.lora_prediction_type = self.unet, self.prediction_type
        if self.vsd and self.cfg.vsd.lora_model:
            # 4D-fy: the particle model is a separate checkpoint (SD 2.1, 768 px, v-prediction) sharing
            # the text encoder and VAE of the pretrained one
            lroot = resolve_model(self.cfg.vsd.lora_model, "VSD LoRA (particle) model")
            check_layout(lroot, ("unet", "scheduler"), f"VSD LoRA model {self.cfg.vsd.lora_model!r}")
            self.lora_unet = load_component(UNet2DConditionModel, lroot, "unet", dt, dev)
            self.lora_prediction_type = load_scheduler(lroot).config.get("prediction_type", "epsilon")
            if self.lora_unet.config.cross_attention_dim != self.unet.config.cross_attention_dim:
                raise ValueError(f"VSD LoRA model {self.cfg.vsd.lora_model!r} has cross_attention_dim "
                                 f"{self.lora_unet.config.cross_attention_dim}, the pretrained model "
                                 f"{self.unet.config.cross_attention_dim}; they must share the text encoder")
        if self.vsd:
            self._init_lora()

    def _init_lora(self) -> None:
        from diffusers.models.embeddings import TimestepEmbedding
        from peft import LoraConfig

        o = self.cfg.vsd
        self.lora_unet.add_adapter(LoraConfig(r=o.lora_rank, lora_alpha=o.lora_alpha, target_modules=LORA_TARGETS,
                                              init_lora_weights=True), adapter_name="vsd")
        lora_params = [p for n, p in self.lora_unet.named_parameters() if "lora_" in n]
        for p in lora_params:
            p.data = p.data.float()
            p.requires_grad_(True)
        emb_dim = self.lora_unet.config.block_out_channels[0] * 4
        g = torch.Generator().manual_seed(int(self.cfg.seed))
        self.camera_embed = TimestepEmbedding(16, emb_dim)
        with torch.no_grad():
            for p in self.camera_embed.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02 if p.ndim > 1 else torch.zeros_like(p))
        self.camera_embed.to(self.device_)              # float32: it is trained (the UNet casts its output)
        self.lora_parameters = lora_params + list(self.camera_embed.parameters())
        self.lora_optimizer = torch.optim.AdamW(self.lora_parameters, lr=o.lora_lr, weight_decay=0.0)
        self.lora_unet.disable_adapters()

    @contextlib.contextmanager
    def _lora_mode(self):
        """Inside: the UNet is the LoRA (particle) model with the camera embedding (re-entrant).

        peft clears ``requires_grad`` of disabled adapters, so a LoRA backward must run inside.
        """
        self._lora_depth = getattr(self, "_lora_depth", 0) + 1
        if self._lora_depth == 1:
            self.lora_unet.enable_adapters()
            self.lora_unet.class_embedding = self.camera_embed
        try:
            yield
        finally:
            self._lora_depth -= 1
            if self._lora_depth == 0:
                self.lora_unet.class_embedding = None
                self.lora_unet.disable_adapters()

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        if not self.vsd:
            return {}
        self.load()
        state = {f"unet.{n}": p.detach().clone() for n, p in self.lora_unet.named_parameters() if "lora_" in n}
        state.update({f"camera_embed.{n}": p.detach().clone() for n, p in self.camera_embed.named_parameters()})
        for idx, st in self.lora_optimizer.state_dict()["state"].items():  # AdamW moments and step: exact resume
            state.update({f"optim.{idx}.{k}": torch.as_tensor(v).detach().clone() for k, v in st.items()})
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if not self.vsd:
            return super().load_trainable_state_dict(state)
        self.load()
        optim = {k: v for k, v in state.items() if k.startswith("optim.")}
        state = {k: v for k, v in state.items() if not k.startswith("optim.")}
        own = {f"unet.{n}": p for n, p in self.lora_unet.named_parameters() if "lora_" in n}
        own.update({f"camera_embed.{n}": p for n, p in self.camera_embed.named_parameters()})
        missing, unexpected = set(own) - set(state), set(state) - set(own)
        if missing or unexpected:
            raise ValueError(f"VSD state does not match this guidance (lora_rank?): {len(missing)} missing, "
                             f"{len(unexpected)} unexpected keys, e.g. {sorted(missing or unexpected)[0]!r}")
        with torch.no_grad():
            for k, p in own.items():
                p.copy_(state[k].to(p.device, p.dtype))
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in optim.items():
            _, idx, key = k.split(".", 2)
            opt_state.setdefault(int(idx), {})[key] = v
        self.lora_optimizer.load_state_dict({"state": opt_state,
                                             "param_groups": self.lora_optimizer.state_dict()["param_groups"]})

    # -- conditioning --------------------------------------------------------------------------
    def text_embeddings(self, condition: Condition, batch: int, view_dependent: bool | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cond [B, L, D], uncond [B, L, D])``; view-dependent suffixes when the cameras are known."""
        o = self.cfg.prompt
        use_views = o.view_dependent if view_dependent is None else view_dependent
        prompts = [condition.prompt] * batch
        if use_views and (condition.elevation is not None or condition.cameras is not None):
            el, az, _ = condition.camera_params(batch)
            prompts = [condition.prompt + view_suffix(float(e), float(a), o.front_threshold, o.back_threshold,
                                                      o.overhead_threshold) for e, a in zip(el, az)]
        negative = condition.negative_prompt or o.negative_prompt
        return self.prompts(prompts), self.prompts([negative] * batch)

    @staticmethod
    def camera_labels(condition: Condition, batch: int, device: torch.device) -> torch.Tensor:
        """Flattened c2w ``[B, 16]`` (motion4d OpenCV convention) for the VSD camera embedding (zeros if unknown)."""
        if condition.cameras is not None:
            return condition.cameras.c2w.reshape(-1, 16).to(device)
        if condition.elevation is not None:
            from motion4d.camera import Cameras

            el, az, r = condition.camera_params(batch)
            return Cameras.orbit(el, az, r, width=8).c2w.reshape(-1, 16).to(device)
        return torch.zeros(batch, 16, device=device)

    # -- predictions ---------------------------------------------------------------------------
    @torch.no_grad()
    def predict_noise(self, noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor, uncond: torch.Tensor,
                      scale: float, form: str, camera: torch.Tensor | None = None) -> torch.Tensor:
        """CFG noise estimate; with ``camera`` the LoRA model is used (its CFG branch zeroes the camera)."""
        B = noisy.shape[0]
        x, tt = torch.cat([noisy, noisy]).to(self.dtype), torch.cat([t, t])
        kwargs = {}
        if camera is not None:
            kwargs["class_labels"] = torch.cat([camera, torch.zeros_like(camera)]).float()
        ctx = contextlib.nullcontext() if camera is None else self._lora_mode()
        with ctx:
            unet = self.unet if camera is None else self.lora_unet
            out = unet(x, tt, encoder_hidden_states=torch.cat([text, uncond]), **kwargs).sample.float()
        kind = self.prediction_type if camera is None else self.lora_prediction_type
        eps = predicted_eps(out, torch.cat([noisy, noisy]).float(), tt, self.alphas_cumprod, kind)
        return cfg_combine(eps[:B], eps[B:], scale, form)

    def losses(self, images: torch.Tensor, condition: Condition, step: int = 0) -> dict[str, torch.Tensor]:
        self.load()
        self.check_needs(condition)
        x = to_bchw(images).to(self.device_)
        B = x.shape[0]
        latents = self.encode_images(self.vae, self.resize(x.float(), (self.cfg.height, self.cfg.width)))
        t = self.sample_timesteps(step, B, self.scheduler.config.num_train_timesteps)
        noise = self.randn(latents.shape)
        noisy = self.scheduler.add_noise(latents.detach(), noise, t)
        text, uncond = self.text_embeddings(condition, B)
        scale = self.value("guidance_scale", step)
        eps = self.predict_noise(noisy, t, text, uncond, scale, self.cfg.cfg_form)
        self.stats = {"t": t.detach().cpu()}
        if not self.vsd:
            loss, _ = self.sds_from_eps(latents, eps, noise, t, self.alphas_cumprod, step)
            return {"sds": self.value("weight", step) * loss}
        camera = self.camera_labels(condition, B, self.device_)
        eps_lora = self.predict_noise(noisy, t, text, uncond, self.value("vsd.lora_guidance_scale", step),
                                      "standard", camera)
        loss, _ = self.sds_from_eps(latents, eps, eps_lora, t, self.alphas_cumprod, step)
        plain_text, _ = self.text_embeddings(condition, B, view_dependent=False)
        self._last = (latents.detach(), plain_text, camera)
        if self.cfg.vsd.train_in_step:
            self.stats["lora"] = self.update_vsd()
        return {"vsd": self.value("weight", step) * loss}

    def lora_loss(self, latents: torch.Tensor, text: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        """Denoising loss of the LoRA model on detached latents ``[B, 4, h, w]`` at ``t ~ U(0, T)``."""
        B = latents.shape[0]
        T = self.scheduler.config.num_train_timesteps
        t = torch.randint(0, T, (B,), generator=self.generator).to(self.device_)
        noise = self.randn(latents.shape)
        noisy = self.scheduler.add_noise(latents, noise, t)
        keep = (torch.rand(B, generator=self.generator) >= self.cfg.vsd.camera_drop).float().to(self.device_)
        with self._lora_mode():
            out = self.lora_unet(noisy.to(self.dtype), t, encoder_hidden_states=text,
                            class_labels=(camera * keep[:, None]).float()).sample.float()
        if self.lora_prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(latents, noise, t)
        else:
            target = noise
        return F.mse_loss(out, target.float())

    def update_vsd(self, latents: torch.Tensor | None = None, condition: Condition | None = None) -> float:
        """One LoRA optimiser step; by default on the latents/prompt/cameras of the last :meth:`losses` call.

        Returns the LoRA loss. Call it once per scene step when ``vsd.train_in_step`` is false.
        """
        if not self.vsd:
            raise ValueError("update_vsd() is only for type=vsd guidance")
        self.load()
        if latents is None:
            if self._last is None:
                raise ValueError("update_vsd() needs latents, or a previous losses() call")
            latents, text, camera = self._last
        else:
            if condition is None:
                raise ValueError("update_vsd(latents, condition) needs the condition too")
            text, _ = self.text_embeddings(condition, len(latents), view_dependent=False)
            camera = self.camera_labels(condition, len(latents), self.device_)
        with torch.enable_grad(), self._lora_mode():
            loss = self.lora_loss(latents.detach(), text, camera)
            self.lora_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.lora_optimizer.step()
        return float(loss.detach())
