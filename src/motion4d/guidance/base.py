"""The guidance template: the score-distillation step written once, and the loss helpers it uses.

A guidance turns renders into named losses::

    losses = guidance(images, condition, step)      # dict[str, Tensor], each a scalar, unweighted
    loss = lambda_sds * sum(losses.values())        # the caller owns the loss weight
    loss.backward()                                 # gradients reach `images` (and the renderer)

* ``images``: ``[B, H, W, 3]`` (motion4d's render layout) or ``[B, 3, H, W]``, float in ``[0, 1]``.
  For video guidance the batch holds the frames of one clip, in time order.
* ``condition``: a :class:`~motion4d.guidance.condition.Condition` (prompt and/or reference image + cameras).
* ``step``: the optimisation step; every schedule in the guidance config is evaluated at it.

:meth:`Guidance.losses` is the SDS skeleton, the same for every model::

    z      = encode_renders(images)                   # latents [B, C, ...], with gradient
    t      = timesteps(step)                          # [B] from the config's sampler and generator
    cond   = encode_condition(condition, B)           # the model's conditioning, CFG batch (uncond, cond)
    eps    ~ N(0, I);  z_t = scheduler.add_noise(z, eps, t)
    e_u, e_c = predict_noise([z_t, z_t], [t, t], cond).chunk(2)       # one UNet call, uncond first
    e_cfg  = e_u + s (e_c - e_u)                      # or threestudio's "plus" form (cfg_form)
    grad   = clean(w(t) (e_cfg - eps))                # score_gradient; NaN/inf -> 0, optional clamp
    loss   = 0.5 ||z - stopgrad(z - grad)||^2 / B     # so d loss / d z = grad / B

A model implements only :meth:`Guidance._load` (its components, including ``self.scheduler``),
:meth:`Guidance.encode_condition` and :meth:`Guidance.predict_noise`; it may override
:meth:`Guidance.encode_renders` (e.g. a video VAE), :meth:`Guidance.score_gradient` (VSD's LoRA target,
MVDream's x0 reconstruction) and :meth:`Guidance.after_step` (VSD's LoRA update). It is then one row of
:data:`motion4d.guidance.registry.GUIDANCES`.

CFG batches are ordered (uncond, cond) everywhere, as in :mod:`motion4d.video.sampling`.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F

from motion4d.guidance.condition import Condition, RenderSpec, to_bchw
from motion4d.guidance.schedules import Schedule, TimestepSampler

__all__ = ["Condition", "RenderSpec", "Guidance", "SDSStep", "to_bchw", "cfg_combine", "CFG_FORMS", "clean_grad",
           "predicted_eps", "sds_loss", "sds_weight", "WEIGHTINGS"]

CFG_FORMS = ("standard", "plus")
WEIGHTINGS = ("sds", "uniform")


def cfg_combine(uncond: torch.Tensor, cond: torch.Tensor, scale: float, form: str = "standard") -> torch.Tensor:
    """Classifier-free guidance from the two branches, given in the CFG batch order (uncond, cond).

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


@dataclass
class SDSStep:
    """One score-distillation step as :meth:`Guidance.losses` computed it (handed to the hooks).

    ``latents`` ``[B, C, ...]`` carry the gradient to the renders; ``t`` ``[B]`` int64; ``noise`` and
    ``noisy`` have the latents' shape; ``eps`` is the CFG combination of ``eps_uncond`` and ``eps_cond``
    (all float32, no gradient); ``cond`` is what :meth:`Guidance.encode_condition` returned.
    """

    step: int
    latents: torch.Tensor
    t: torch.Tensor
    noise: torch.Tensor
    noisy: torch.Tensor
    cond: Any
    eps: torch.Tensor
    eps_uncond: torch.Tensor
    eps_cond: torch.Tensor


class Guidance(torch.nn.Module, metaclass=abc.ABCMeta):
    """Base class and template of every score-distillation model (see the module docstring).

    Class attributes: ``kind`` (name in messages), ``needs`` (condition fields read: ``"prompt"``,
    ``"image"``, ``"camera"``, ``"cameras"``), ``loss_name`` (key of the returned loss). Model weights
    stay frozen; only trainable extras (the VSD LoRA) have ``requires_grad``. ``generator`` (a CPU
    ``torch.Generator``) draws every random number of a step: reseed it for exact resume.
    """

    kind: ClassVar[str] = "guidance"
    needs: ClassVar[frozenset[str]] = frozenset()
    loss_name: ClassVar[str] = "sds"

    def __init__(self, cfg: Any):
        super().__init__()
        from motion4d.utils.device import default_dtype, resolve_device

        self.cfg = cfg
        self.device_ = resolve_device(getattr(cfg, "device", "auto"))
        self.dtype = default_dtype(self.device_, getattr(cfg, "precision", "auto"))
        self.generator = torch.Generator().manual_seed(int(getattr(cfg, "seed", 0)))
        self._loaded = False
        self._sampler: TimestepSampler | None = None
        self.stats: dict[str, Any] = {}          # diagnostics of the last call (timesteps, LoRA loss)

    # -- what a model implements ---------------------------------------------------------------
    @abc.abstractmethod
    def _load(self) -> None:  # pragma: no cover - abstract
        """Build the components (called once, lazily). Must set ``self.scheduler`` (a diffusers noise
        scheduler: ``add_noise``, ``alphas_cumprod``, ``config.num_train_timesteps``)."""
        ...

    @abc.abstractmethod
    def encode_condition(self, condition: Condition, batch: int) -> Any:  # pragma: no cover - abstract
        """The model's conditioning for a CFG batch of ``2 * batch`` rows: unconditional first, then
        conditional (any structure :meth:`predict_noise` reads)."""
        ...

    @abc.abstractmethod
    def predict_noise(self, latents_noisy: torch.Tensor, t: torch.Tensor, cond: Any
                      ) -> torch.Tensor:  # pragma: no cover - abstract
        """The raw model output (in the scheduler's ``prediction_type``) for a CFG batch: ``latents_noisy``
        ``[2B, C, ...]`` in ``self.dtype``, ``t`` ``[2B]``, ``cond`` from :meth:`encode_condition`."""
        ...

    # -- optional hooks ------------------------------------------------------------------------
    views_per_timestep: int = 1
    """Renders that share one timestep (MVDream: the views of a sample); the batch must be a multiple."""

    def encode_renders(self, images: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, C, h, w]`` (with gradient) of renders: resized to the model size, VAE-encoded."""
        x = to_bchw(images).to(self.device_)
        return self.encode_images(self.vae, self.resize(x.float(), (self.cfg.height, self.cfg.width)))

    def score_gradient(self, s: SDSStep) -> torch.Tensor:
        """The gradient injected into the latents (before NaN guard and clamp): ``w(t) (eps_cfg - noise)``."""
        w = sds_weight(self.alphas_cumprod, s.t, self.cfg.weighting)
        return w.reshape(-1, *([1] * (s.latents.ndim - 1))) * (s.eps - s.noise)

    def after_step(self, s: SDSStep) -> None:
        """Called after the loss is formed (VSD trains its LoRA here)."""

    # -- the template --------------------------------------------------------------------------
    def losses(self, images: torch.Tensor, condition: Condition, step: int = 0) -> dict[str, torch.Tensor]:
        """``{loss_name: loss}``: the SDS loss of ``images`` under ``condition`` at ``step`` (unweighted)."""
        self.load()
        self.check_needs(condition)
        s = self.sds_step(images, condition, step)
        grad = clean_grad(self.score_gradient(s), self.value("grad_clip", step))
        loss = sds_loss(s.latents, grad)
        self.stats = {"t": s.t.detach().cpu()}
        self.after_step(s)
        return {self.loss_name: loss}

    def forward(self, images: torch.Tensor, condition: Condition, step: int = 0) -> dict[str, torch.Tensor]:
        return self.losses(images, condition, step)

    def sds_step(self, images: torch.Tensor, condition: Condition, step: int) -> SDSStep:
        """Encode, draw ``t`` and noise, add noise, predict with CFG (random draws in that order)."""
        latents = self.encode_renders(images)
        B = latents.shape[0]
        t = self.timesteps(step, B)
        cond = self.encode_condition(condition, B)
        noise = self.randn(latents.shape)
        noisy = self.scheduler.add_noise(latents.detach().float(), noise, t)
        eps, eps_u, eps_c = self.guided_noise(noisy, t, cond, self.value("guidance_scale", step))
        return SDSStep(step, latents, t, noise, noisy, cond, eps, eps_u, eps_c)

    @torch.no_grad()
    def guided_noise(self, latents_noisy: torch.Tensor, t: torch.Tensor, cond: Any, scale: float,
                     form: str | None = None, prediction_type: str | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(eps_cfg, eps_uncond, eps_cond)`` float32 for noisy latents ``[B, ...]``: one
        :meth:`predict_noise` call on the CFG batch (uncond, cond), then :func:`cfg_combine` (``form``
        defaults to ``cfg.cfg_form``). Samplers (Zero123's ``novel_view``) use it too."""
        x2, t2 = torch.cat([latents_noisy, latents_noisy]), torch.cat([t, t])
        out = self.predict_noise(x2.to(self.dtype), t2, cond).float()
        eps = predicted_eps(out, x2.float(), t2, self.alphas_cumprod, prediction_type or self.prediction_type)
        eps_u, eps_c = eps.chunk(2)
        return cfg_combine(eps_u, eps_c, scale, form or self.cfg.cfg_form), eps_u, eps_c

    def timesteps(self, step: int, batch: int) -> torch.Tensor:
        """``[batch]`` timesteps at ``step``, one per group of :attr:`views_per_timestep` renders."""
        V = self.views_per_timestep
        if batch % V:
            raise ValueError(f"{self.kind} guidance needs the renders in groups of {V} views; got a batch of {batch}")
        return self.sample_timesteps(step, batch // V, self.scheduler.config.num_train_timesteps).repeat_interleave(V)

    def sample_timesteps(self, step: int, batch: int, num_train_timesteps: int = 1000) -> torch.Tensor:
        """Timesteps ``[batch]`` from the config's sampler (``timesteps``, ``t_min``, ``t_max``) at ``step``."""
        if self._sampler is None:
            c = self.cfg
            self._sampler = TimestepSampler(c.timesteps, c.t_min, c.t_max, num_train_timesteps, c.anneal_steps,
                                            c.per_sample_t)
        return self._sampler(step, batch, self.generator, self.device_)

    # -- config numbers ------------------------------------------------------------------------
    def value(self, key: str, step: int) -> float | None:
        """The config number ``key`` (a :class:`Schedule`; dotted for section fields) at ``step``; None stays None."""
        raw = self.cfg
        for part in key.split("."):                 # "mvdream.recon_std_rescale" reads a section field
            raw = getattr(raw, part)
        return None if raw is None else Schedule.parse(raw, key)(step)

    def reconfigure(self, **changes: Any) -> None:
        """Change schedule/scale fields without reloading weights (hybrid stages use it).

        ``type``, ``model``, ``precision`` and ``device`` cannot change on a built guidance.
        """
        fixed = {"type", "model", "precision", "device"} & set(changes)
        if fixed:
            raise ValueError(f"cannot change {', '.join(sorted(fixed))} of a built guidance; build a new one")
        self.cfg = self.cfg.with_(**changes)
        self._sampler = None

    # -- lifecycle -----------------------------------------------------------------------------
    def load(self) -> "Guidance":
        """Load the pretrained components now (otherwise on the first call)."""
        if not self._loaded:
            self._load()
            self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device_)
            self.prediction_type = self.scheduler.config.get("prediction_type", "epsilon")
            self._loaded = True
        return self

    @property
    def render_spec(self) -> RenderSpec:
        """What to render per step: one view at the model's input size unless a model says otherwise."""
        return RenderSpec(views=1, height=self.cfg.height, width=self.cfg.width)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors this guidance trains (VSD: LoRA, camera embedding, optimizer state), for checkpoints."""
        return {}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`trainable_state_dict` (after a resume)."""
        if state:
            raise ValueError(f"{self.kind} guidance has no trainable state, got {len(state)} tensors")

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

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, device={self.device_}, dtype={self.dtype}"
