"""Variational score distillation (ProlificDreamer; 4D-fy's image prior) with Stable Diffusion.

``grad = w(t) (eps_pretrained_cfg - eps_lora)``: CFG 7.5 (standard form) on the pretrained model and
``vsd.lora_guidance_scale`` (1.0) on the LoRA (particle) model, both in the CFG batch order (uncond, cond).
The LoRA is a peft adapter on the *same* UNet (switched off for the pretrained prediction, so no second
UNet is held in memory), plus a camera embedding ``TimestepEmbedding(16, time_embed_dim)`` of the
flattened c2w fed as the UNet's ``class_embedding`` (zeros in the unconditional branch, and dropped to
zeros with probability ``vsd.camera_drop`` during LoRA training). The LoRA is trained with the
denoising loss at ``t ~ U(0, T)`` on the detached render latents, alternating with the scene: by
default inside :meth:`losses` (``vsd.train_in_step``), or by calling :meth:`VSDGuidance.update_vsd`
after the scene's optimiser step. 4D-fy puts the LoRA on a separate model, the 768-px v-prediction
``stabilityai/stable-diffusion-2-1``: set ``vsd.lora_model`` for that (it shares the pretrained
model's text encoder and VAE).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from motion4d.guidance.base import SDSStep, sds_weight
from motion4d.guidance.condition import Condition
from motion4d.guidance.stable_diffusion import StableDiffusionGuidance

__all__ = ["VSDGuidance", "VSDCondition", "LORA_TARGETS"]

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


@dataclass
class VSDCondition:
    """``hidden`` ``[2B, L, D]`` CFG text batch (view-dependent); ``plain`` ``[B, L, D]`` the prompt without
    view suffix (LoRA training); ``camera`` ``[B, 16]`` flattened c2w; ``lora``: predict with the LoRA model."""

    hidden: torch.Tensor
    plain: torch.Tensor
    camera: torch.Tensor
    lora: bool = False


class VSDGuidance(StableDiffusionGuidance):
    """VSD. ``condition``: ``prompt`` (+ cameras). Returns ``{"vsd": loss}``; ``stats["lora"]`` holds the
    LoRA loss of the in-step update."""

    kind = "vsd"
    loss_name = "vsd"

    def _load(self) -> None:
        from diffusers import UNet2DConditionModel

        from motion4d.guidance.loading import check_layout, load_component, load_scheduler, resolve_model

        super()._load()
        self.lora_unet, self.lora_prediction_type = self.unet, self.scheduler.config.get("prediction_type",
                                                                                          "epsilon")
        if self.cfg.vsd.lora_model:
            lroot = resolve_model(self.cfg.vsd.lora_model, "VSD LoRA (particle) model")
            check_layout(lroot, ("unet", "scheduler"), f"VSD LoRA model {self.cfg.vsd.lora_model!r}")
            self.lora_unet = load_component(UNet2DConditionModel, lroot, "unet", self.dtype, self.device_)
            self.lora_prediction_type = load_scheduler(lroot).config.get("prediction_type", "epsilon")
            if self.lora_unet.config.cross_attention_dim != self.unet.config.cross_attention_dim:
                raise ValueError(f"VSD LoRA model {self.cfg.vsd.lora_model!r} has cross_attention_dim "
                                 f"{self.lora_unet.config.cross_attention_dim}, the pretrained model "
                                 f"{self.unet.config.cross_attention_dim}; they must share the text encoder")
        self._init_lora()
        self._last: tuple | None = None

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

    # -- exact-resume state ----------------------------------------------------------------------
    def _own_tensors(self) -> dict[str, torch.Tensor]:
        own = {f"unet.{n}": p for n, p in self.lora_unet.named_parameters() if "lora_" in n}
        own.update({f"camera_embed.{n}": p for n, p in self.camera_embed.named_parameters()})
        return own

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """LoRA (``unet.*``), camera embedding (``camera_embed.*``) and the LoRA optimizer's AdamW state
        (``optimizer.<param index>.<step|exp_avg|exp_avg_sq>``): everything an exact resume needs."""
        self.load()
        state = {k: p.detach().clone() for k, p in self._own_tensors().items()}
        for i, s in self.lora_optimizer.state_dict()["state"].items():
            for name, v in s.items():
                state[f"optimizer.{i}.{name}"] = torch.as_tensor(v).detach().clone()
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.load()
        own = self._own_tensors()
        params = {k: v for k, v in state.items() if not k.startswith("optimizer.")}
        missing, unexpected = set(own) - set(params), set(params) - set(own)
        if missing or unexpected:
            raise ValueError(f"VSD state does not match this guidance (lora_rank?): {len(missing)} missing, "
                             f"{len(unexpected)} unexpected keys, e.g. {sorted(missing or unexpected)[0]!r}")
        with torch.no_grad():
            for k, p in own.items():
                p.copy_(state[k].to(p.device, p.dtype))
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in state.items():
            if k.startswith("optimizer."):
                _, i, name = k.split(".", 2)
                opt_state.setdefault(int(i), {})[name] = v.clone()
        sd = self.lora_optimizer.state_dict()
        self.lora_optimizer.load_state_dict({"state": opt_state, "param_groups": sd["param_groups"]})

    # -- conditioning and predictions --------------------------------------------------------------
    @staticmethod
    def camera_labels(condition: Condition, batch: int, device: torch.device) -> torch.Tensor:
        """Flattened c2w ``[B, 16]`` (motion4d OpenCV convention) for the camera embedding (zeros if unknown)."""
        if condition.cameras is not None:
            return condition.cameras.c2w.reshape(-1, 16).to(device)
        if condition.elevation is not None:
            from motion4d.camera import Cameras

            el, az, r = condition.camera_params(batch)
            return Cameras.orbit(el, az, r, width=8).c2w.reshape(-1, 16).to(device)
        return torch.zeros(batch, 16, device=device)

    def encode_condition(self, condition: Condition, batch: int) -> VSDCondition:
        hidden = super().encode_condition(condition, batch)
        plain = self.prompts([condition.prompt]).expand(batch, -1, -1)
        return VSDCondition(hidden, plain, self.camera_labels(condition, batch, self.device_))

    def predict_noise(self, latents_noisy: torch.Tensor, t: torch.Tensor, cond: VSDCondition) -> torch.Tensor:
        """Pretrained UNet output, or (``cond.lora``) the LoRA model's with the camera in the cond half."""
        if not cond.lora:
            return super().predict_noise(latents_noisy, t, cond.hidden)
        labels = torch.cat([torch.zeros_like(cond.camera), cond.camera]).float()
        with self._lora_mode():
            return self.lora_unet(latents_noisy, t, encoder_hidden_states=cond.hidden, class_labels=labels).sample

    def score_gradient(self, s: SDSStep) -> torch.Tensor:
        """``w(t) (eps_pretrained_cfg - eps_lora_cfg)``: the LoRA model's score replaces the drawn noise."""
        lora_cond = VSDCondition(s.cond.hidden, s.cond.plain, s.cond.camera, lora=True)
        eps_lora, _, _ = self.guided_noise(s.noisy, s.t, lora_cond, self.value("vsd.lora_guidance_scale", s.step),
                                           "standard", self.lora_prediction_type)
        w = sds_weight(self.alphas_cumprod, s.t, self.cfg.weighting).reshape(-1, 1, 1, 1)
        return w * (s.eps - eps_lora)

    def after_step(self, s: SDSStep) -> None:
        self._last = (s.latents.detach(), s.cond.plain, s.cond.camera)
        if self.cfg.vsd.train_in_step:
            self.stats["lora"] = self.update_vsd()

    # -- the LoRA (particle) model's own training -------------------------------------------------
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
        target = self.scheduler.get_velocity(latents, noise, t) if self.lora_prediction_type == "v_prediction" \
            else noise
        return F.mse_loss(out, target.float())

    def update_vsd(self, latents: torch.Tensor | None = None, condition: Condition | None = None) -> float:
        """One LoRA optimiser step; by default on the latents/prompt/cameras of the last :meth:`losses` call.

        Returns the LoRA loss. Call it once per scene step when ``vsd.train_in_step`` is false.
        """
        self.load()
        if latents is None:
            if self._last is None:
                raise ValueError("update_vsd() needs latents, or a previous losses() call")
            latents, text, camera = self._last
        else:
            if condition is None:
                raise ValueError("update_vsd(latents, condition) needs the condition too")
            text = self.prompts([condition.prompt]).expand(len(latents), -1, -1)
            camera = self.camera_labels(condition, len(latents), self.device_)
        with torch.enable_grad(), self._lora_mode():
            loss = self.lora_loss(latents.detach(), text, camera)
            self.lora_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.lora_optimizer.step()
        return float(loss.detach())
