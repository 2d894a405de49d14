"""The guidance interface and the loss helpers every score-distillation model shares.

A guidance turns renders into named losses::

    losses = guidance(images, condition, step)      # dict[str, Tensor], each a scalar
    loss = sum(losses.values()); loss.backward()    # gradients reach `images` (and the renderer)

* ``images``: ``[B, H, W, 3]`` (motion4d's render layout) or ``[B, 3, H, W]``, float in ``[0, 1]``.
  For video guidance the batch holds the frames of one clip, in time order.
* ``condition``: a :class:`Condition` (prompt and/or reference image + cameras).
* ``step``: the optimisation step; every schedule in the guidance config is evaluated at it.

``guidance.needs`` says which condition fields the model reads (``"prompt"``, ``"image"``,
``"camera"``, ``"cameras"``), and ``guidance.render_spec`` what the 4D loop should render
(views per step, image size, or a clip of frames).

The SDS gradient is injected with the detached-target form (threestudio, DreamGaussian)::

    grad   = w(t) * (eps_pred - eps)                  # never differentiated through the UNet
    target = stopgrad(z - grad)
    loss   = 0.5 * ||z - target||^2 / B               # so d loss / d z = grad / B
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F

from motion4d.guidance.schedules import Schedule, TimestepSampler

__all__ = ["Condition", "RenderSpec", "Guidance", "to_bchw", "cfg_combine", "CFG_FORMS", "clean_grad", "predicted_eps",
           "sds_loss", "sds_weight", "WEIGHTINGS"]

CFG_FORMS = ("standard", "plus")
WEIGHTINGS = ("sds", "uniform")


@dataclass
class Condition:
    """What a guidance is conditioned on. Fill only what the guidance ``needs``.

    Cameras use motion4d's convention (degrees; ``elevation > 0`` above the horizon, ``azimuth = 0`` on
    the +Z axis, growing towards +X; radius in world units). Each guidance converts explicitly to its
    model's own convention.

    Attributes:
        prompt: text prompt (SD, VSD, MVDream, video).
        negative_prompt: text for the unconditional branch ("" = empty prompt).
        image: reference image(s) for Zero123, ``[H, W, 3|4]``, ``[3|4, H, W]`` or batched with a
            leading dimension of 1 or B (one reference per render, e.g. the video frame at that time),
            float in [0, 1]. RGBA is composited on white.
        elevation, azimuth, radius: cameras of the B renders (scalars or ``[B]``).
        ref_elevation, ref_azimuth, ref_radius: camera of the reference image (default: elevation 0,
            azimuth 0, the renders' radius).
        cameras: :class:`motion4d.camera.Cameras` of the renders; MVDream reads their poses. When given,
            missing ``elevation``/``azimuth``/``radius`` are taken from their orbit metadata.
    """

    prompt: str | None = None
    negative_prompt: str = ""
    image: torch.Tensor | None = None
    elevation: Any = None
    azimuth: Any = None
    radius: Any = None
    ref_elevation: float = 0.0
    ref_azimuth: float = 0.0
    ref_radius: float | None = None
    cameras: Any = None

    @classmethod
    def relative(cls, image: torch.Tensor, d_elevation: Any, d_azimuth: Any, d_radius: Any = 0.0,
                 ref_elevation: float = 0.0, **kw) -> "Condition":
        """A reference image plus camera *deltas* (target minus reference, motion4d convention)."""
        d_el, d_az, d_r = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in
                           (d_elevation, d_azimuth, d_radius))
        return cls(image=image, elevation=ref_elevation + d_el, azimuth=d_az, radius=1.0 + d_r,
                   ref_elevation=ref_elevation, ref_azimuth=0.0, ref_radius=1.0, **kw)

    def camera_params(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(elevation, azimuth, radius)`` of the renders as float32 ``[batch]`` tensors."""
        vals = []
        for key in ("elevation", "azimuth", "radius"):
            v = getattr(self, key)
            if v is None and self.cameras is not None:
                v = getattr(self.cameras, key)
            if v is None:
                raise ValueError(f"condition lacks the render cameras' {key}: pass Condition({key}=...) or "
                                 f"cameras=Cameras.orbit(...)")
            t = torch.as_tensor(v, dtype=torch.float32).detach().cpu().reshape(-1)
            if len(t) == 1:
                t = t.expand(batch)
            if len(t) != batch:
                raise ValueError(f"condition {key} has {len(t)} values for a batch of {batch} renders")
            vals.append(t.clone())
        return vals[0], vals[1], vals[2]

    def relative_camera(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Deltas ``(d_elevation, d_azimuth, d_radius)`` from the reference camera to each render."""
        el, az, r = self.camera_params(batch)
        ref_r = r if self.ref_radius is None else torch.full_like(r, float(self.ref_radius))
        d_az = torch.remainder(az - float(self.ref_azimuth) + 180.0, 360.0) - 180.0
        return el - float(self.ref_elevation), d_az, r - ref_r


@dataclass(frozen=True)
class RenderSpec:
    """What the 4D loop should render for one guidance step.

    ``views`` renders of ``height x width`` (MVDream: 4 views with a shared time); ``frames`` > 1 means
    a clip: the same camera at ``frames`` times (video guidance). Guidances resize internally, so
    these are recommendations (the model's native input size).
    """

    views: int = 1
    height: int = 256
    width: int = 256
    frames: int = 1

    @property
    def is_clip(self) -> bool:
        return self.frames > 1


def to_bchw(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """``[B, H, W, 3]`` or ``[B, 3, H, W]`` (or unbatched) images in [0, 1] as ``[B, 3, H, W]``.

    Four-channel (RGBA) inputs are composited on white. A shape that reads both ways (e.g. ``[B, 3, 4, 3]``)
    is taken as channels-last, motion4d's render layout. Raises ``ValueError`` for other layouts.
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    x = images
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{name} must be [B,H,W,3] or [B,3,H,W], got shape {tuple(images.shape)}")
    if x.shape[-1] in (3, 4):                   # channels-last wins when both readings are possible
        x = x.permute(0, 3, 1, 2)
    elif x.shape[1] not in (3, 4):
        raise ValueError(f"{name} must be [B,H,W,3] or [B,3,H,W], got shape {tuple(images.shape)}")
    if x.shape[1] == 4:
        x = x[:, :3] * x[:, 3:] + (1.0 - x[:, 3:])
    return x


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor, scale: float, form: str = "standard") -> torch.Tensor:
    """Classifier-free guidance.

    ``standard`` (diffusers, MVDream, Zero123, VSD): ``uncond + s * (cond - uncond)``.
    ``plus`` (threestudio's SD-SDS and ZeroScope guidance): ``cond + s * (cond - uncond)``, equal to the
    standard form with ``s + 1``.
    """
    if form == "standard":
        return uncond + scale * (cond - uncond)
    if form == "plus":
        return cond + scale * (cond - uncond)
    raise ValueError(f"cfg form {form!r} is not one of {', '.join(CFG_FORMS)}")


def sds_weight(alphas_cumprod: torch.Tensor, t: torch.Tensor, kind: str = "sds") -> torch.Tensor:
    """Per-sample SDS weight ``w(t)`` ``[B]``: ``sds`` = ``1 - alpha_bar_t``; ``uniform`` = 1."""
    if kind == "sds":
        return 1.0 - alphas_cumprod.to(t.device)[t].float()
    if kind == "uniform":
        return torch.ones(t.shape, device=t.device)
    raise ValueError(f"weighting {kind!r} is not one of {', '.join(WEIGHTINGS)}")


def clean_grad(grad: torch.Tensor, clip: float | None = None) -> torch.Tensor:
    """Replace NaN/inf by 0 and (optionally) clamp every element to ``[-clip, clip]``."""
    grad = torch.nan_to_num(grad.float(), nan=0.0, posinf=0.0, neginf=0.0)
    if clip is not None and clip > 0:
        grad = grad.clamp(-clip, clip)
    return grad


def sds_loss(latents: torch.Tensor, grad: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """Detached-target SDS loss ``0.5 * ||z - stopgrad(z - grad)||^2 / B``; its gradient wrt z is ``grad / B``."""
    batch = latents.shape[0] if batch is None else batch
    target = (latents.float() - grad.float()).detach()
    return 0.5 * F.mse_loss(latents.float(), target, reduction="sum") / batch


class Guidance(torch.nn.Module):
    """Base class: a score-distillation model behind ``losses(images, condition, step)``.

    Subclasses set ``kind``, ``needs`` and implement :meth:`_load` (build the diffusion components,
    called once, lazily) and :meth:`losses`. Model weights stay frozen; only trainable extras (the
    VSD LoRA) have ``requires_grad``.
    """

    kind: ClassVar[str] = "guidance"
    needs: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, cfg: Any):
        super().__init__()
        from motion4d.utils.device import default_dtype, resolve_device

        self.cfg = cfg
        self.device_ = resolve_device(getattr(cfg, "device", "auto"))
        self.dtype = default_dtype(self.device_, getattr(cfg, "precision", "auto"))
        self.generator = torch.Generator().manual_seed(int(getattr(cfg, "seed", 0)))
        self._loaded = False
        self._schedules: dict[str, Schedule] = {}
        self.stats: dict[str, Any] = {}          # diagnostics of the last call (timesteps, LoRA loss)

    # -- schedules -----------------------------------------------------------------------------
    def value(self, key: str, step: int) -> float | None:
        """The config number ``key`` (possibly a schedule; dotted for section fields) at ``step``; None stays None."""
        raw = self.cfg
        for part in key.split("."):                 # "mvdream.recon_std_rescale" reads a section field
            raw = getattr(raw, part)
        if raw is None:
            return None
        if key not in self._schedules:
            self._schedules[key] = Schedule.parse(raw, key)
        return self._schedules[key](step)

    def reconfigure(self, **changes: Any) -> None:
        """Change schedule/scale fields without reloading weights (hybrid stages use it).

        ``type``, ``model``, ``precision`` and ``device`` cannot change on a built guidance.
        """
        fixed = {"type", "model", "precision", "device"} & set(changes)
        if fixed:
            raise ValueError(f"cannot change {', '.join(sorted(fixed))} of a built guidance; build a new one")
        cfg = self.cfg.with_(**changes)
        self.cfg = cfg
        self._schedules.clear()
        self._sampler = None

    # -- lifecycle -----------------------------------------------------------------------------
    def load(self) -> "Guidance":
        """Load the pretrained components now (otherwise on the first call)."""
        if not self._loaded:
            self._load()
            self._loaded = True
        return self

    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_text_diffusion(self, unet_cls: Any, purpose: str, label: str, unet_hook: Any = None) -> Any:
        """Load a text-conditioned diffusers model (unet, vae, text encoder, tokenizer, scheduler).

        Sets ``vae``, ``unet``, ``scheduler``, ``alphas_cumprod``, ``prediction_type`` and ``prompts``;
        ``unet_hook(unet)`` runs before the UNet is moved to the compute device (e.g. to load a LoRA).
        Returns the model's folder.
        """
        from diffusers import AutoencoderKL

        from motion4d.guidance.loading import (check_layout, load_component, load_scheduler, load_text_encoder,
                                               load_tokenizer, resolve_model)
        from motion4d.guidance.prompts import PromptEncoder

        root = resolve_model(self.cfg.model, purpose)
        check_layout(root, ("unet", "vae", "text_encoder", "tokenizer", "scheduler"), f"{label} {self.cfg.model!r}")
        dev, dt = self.device_, self.dtype
        self.vae = load_component(AutoencoderKL, root, "vae", dt, dev)
        self.unet = load_component(unet_cls, root, "unet", dt, dev)
        if unet_hook is not None:
            unet_hook(self.unet)
            self.unet.to(dev, dt)
        self.scheduler = load_scheduler(root)
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(dev)
        self.prediction_type = self.scheduler.config.get("prediction_type", "epsilon")
        self.prompts = PromptEncoder(load_tokenizer(root), load_text_encoder(root, dt, dev), dev, dt)
        return root

    @property
    def render_spec(self) -> RenderSpec:
        return RenderSpec()

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors this guidance trains (VSD: LoRA + camera embedding), for checkpoints; {} for the others."""
        return {}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`trainable_state_dict` (after a resume)."""
        if state:
            raise ValueError(f"{self.kind} guidance has no trainable state, got {len(state)} tensors")

    def losses(self, images: torch.Tensor, condition: Condition, step: int = 0) -> dict[str, torch.Tensor]:
        raise NotImplementedError  # pragma: no cover

    def forward(self, images: torch.Tensor, condition: Condition, step: int = 0) -> dict[str, torch.Tensor]:
        return self.losses(images, condition, step)

    # -- shared pieces -------------------------------------------------------------------------
    def randn(self, shape: Sequence[int]) -> torch.Tensor:
        """Gaussian noise from the guidance's seeded generator, on its device and in float32."""
        return torch.randn(tuple(shape), generator=self.generator).to(self.device_)

    def check_needs(self, condition: Condition) -> None:
        if not isinstance(condition, Condition):
            raise ValueError(f"{self.kind} guidance expects a motion4d.guidance.Condition, got "
                             f"{type(condition).__name__}")
        if "prompt" in self.needs and not condition.prompt:
            raise ValueError(f"{self.kind} guidance needs condition.prompt (a text prompt)")
        if "image" in self.needs and condition.image is None:
            raise ValueError(f"{self.kind} guidance needs condition.image (the reference image)")

    @staticmethod
    def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def encode_images(self, vae: Any, x: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """VAE latents (times the scaling factor) of images ``[B, 3, H, W]`` in [0, 1], with gradient."""
        posterior = vae.encode((x * 2.0 - 1.0).to(self.dtype)).latent_dist
        z = posterior.sample(generator=self.generator) if sample else posterior.mode()
        return z.float() * vae.config.scaling_factor

    def decode_latents(self, vae: Any, z: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 3, H, W]`` in [0, 1] from latents (times the scaling factor)."""
        x = vae.decode((z / vae.config.scaling_factor).to(self.dtype)).sample
        return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def sample_timesteps(self, step: int, batch: int, num_train_timesteps: int = 1000) -> torch.Tensor:
        """Timesteps ``[batch]`` from the config's sampler (``timesteps``, ``t_min``, ``t_max``) at ``step``."""
        if getattr(self, "_sampler", None) is None:
            c = self.cfg
            self._sampler = TimestepSampler(c.timesteps, c.t_min, c.t_max, num_train_timesteps, c.anneal_steps,
                                            c.per_sample_t)
        return self._sampler(step, batch, self.generator, self.device_)

    def sds_from_eps(self, latents: torch.Tensor, eps_pred: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                     alphas_cumprod: torch.Tensor, step: int, batch: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, grad)``: ``grad = clean(w(t) (eps_pred - noise))`` and the detached-target loss."""
        w = sds_weight(alphas_cumprod, t, self.cfg.weighting).reshape(-1, *([1] * (latents.ndim - 1)))
        grad = clean_grad(w * (eps_pred.float() - noise.float()), self.value("grad_clip", step))
        return sds_loss(latents, grad, batch), grad

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, device={self.device_}, dtype={self.dtype}"


def predicted_eps(output: torch.Tensor, sample: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
                  prediction_type: str = "epsilon") -> torch.Tensor:
    """The noise estimate from a UNet output of ``prediction_type`` (epsilon | v_prediction | sample).

    ``sample`` is the noisy latent ``[B, ...]`` and ``t`` the timesteps ``[B]``.
    """
    if prediction_type == "epsilon":
        return output
    a = alphas_cumprod.to(sample.device)[t].float().reshape(-1, *([1] * (sample.ndim - 1)))
    if prediction_type == "v_prediction":
        return a.sqrt() * output + (1 - a).sqrt() * sample
    if prediction_type == "sample":
        return (sample - a.sqrt() * output) / (1 - a).sqrt()
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")
