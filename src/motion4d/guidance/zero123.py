"""Zero123 / Zero123-XL / Stable Zero123 guidance for diffusers-layout checkpoints.

Compatible with ``ashawkey/zero123-xl-diffusers`` and ``ashawkey/stable-zero123-diffusers``
(``model_index.json`` class ``Zero123Pipeline``). Folder layout read::

    model_index.json
    clip_camera_projection/{config.json, diffusion_pytorch_model.safetensors}   # Linear(768 + 4 -> 768)
    image_encoder/{config.json, model.safetensors}                             # CLIPVisionModelWithProjection
    feature_extractor/preprocessor_config.json                                 # CLIP mean/std (optional)
    unet/{config.json, diffusion_pytorch_model.safetensors}                    # UNet2DConditionModel, 8 in-channels
    vae/...  scheduler/scheduler_config.json

Conditioning (research notes, hybrid_sds_threestudio.md §3.1 and dg4d.md §4.1):

* cross-attention: one token ``CCProjection([clip_image_embeds (768), camera (4)])``; CLIP sees the reference
  as upstream feeds it (``zero123.clip_preprocess: pil``): uint8 PIL image (truncated, like torchvision's
  ``to_pil_image``), bicubic resize of the short side and centre crop, CLIP mean/std;
* channels: the reference image's VAE latent (**not** multiplied by the scaling factor) concatenated to the
  noisy latent (4 + 4 = 8 UNet input channels). ``zero123.reference_latent: sample`` (default) draws one
  posterior sample as DreamGaussian/DreamGaussian4D do, seeded by ``zero123.reference_seed`` (else ``seed``)
  and the image content; ``mode`` takes the posterior mode as threestudio does;
* CFG (standard form), batch order (uncond, cond): the unconditional half zeroes both the token and
  the concat latent.

Camera vector, relative to the reference view (Zero123 polar angle = 90 deg - motion4d elevation, so
``d_polar = -d_elevation``; Zero123 and motion4d azimuths both grow counter-clockwise seen from above)::

    zero123 / zero123-xl : [deg2rad(-d_elev), sin(deg2rad(d_azim)), cos(deg2rad(d_azim)), d_radius]
    stable-zero123       : [deg2rad(-d_elev), sin(deg2rad(d_azim)), cos(deg2rad(d_azim)), deg2rad(90 - ref_elev)]

The two checkpoints have the same architecture; upstream picks the camera by the model it loads. The camera here
follows the configured ``type``; :func:`detect_zero123_variant` reads the checkpoint's names (``_name_or_path`` in
its configs, the model id) and a mismatch with ``type`` is warned about when the model loads.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from motion4d.guidance.base import Guidance
from motion4d.guidance.condition import Condition, to_bchw
from motion4d.guidance.config import Zero123Options

__all__ = ["Zero123Guidance", "StableZero123Guidance", "zero123_camera", "CLIPCameraProjection", "CLIP_MEAN",
           "CLIP_STD", "detect_zero123_variant", "clip_pixels_pil", "reference_noise_seed"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def zero123_camera(d_elevation: torch.Tensor, d_azimuth: torch.Tensor, d_radius: torch.Tensor,
                   variant: str = "zero123", ref_elevation: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Zero123's 4-d relative camera ``[B, 4]`` from motion4d deltas (degrees, degrees, world units).

    ``variant``: ``zero123`` (4th entry = d_radius) or ``stable-zero123`` (4th entry = the reference
    view's absolute polar angle ``deg2rad(90 - ref_elevation)``).
    """
    d_el = torch.as_tensor(d_elevation, dtype=torch.float32).reshape(-1)
    d_az = torch.deg2rad(torch.as_tensor(d_azimuth, dtype=torch.float32).reshape(-1))
    d_r = torch.as_tensor(d_radius, dtype=torch.float32).reshape(-1)
    d_el, d_az, d_r = torch.broadcast_tensors(d_el, d_az, d_r)
    if variant == "zero123":
        last = d_r
    elif variant == "stable-zero123":
        last = torch.deg2rad(90.0 - torch.as_tensor(ref_elevation, dtype=torch.float32)).expand_as(d_el)
    else:
        raise ValueError(f"zero123 variant {variant!r} is not one of zero123, stable-zero123")
    return torch.stack([torch.deg2rad(-d_el), torch.sin(d_az), torch.cos(d_az), last], dim=-1)


_STABLE = re.compile(r"stable[-_ ]?zero[-_ ]?123|zero[-_ ]?123[-_ ]?(sai|stable)")
_PLAIN = re.compile(r"zero[-_ ]?123|zero[-_ ]?1[-_ ]?to[-_ ]?3")


def detect_zero123_variant(root: str | Path, model: str | None = None) -> tuple[str | None, str]:
    """``(variant, evidence)``: ``"stable-zero123"``, ``"zero123"`` or ``None`` (cannot tell) for the checkpoint
    folder ``root`` loaded as ``model`` (registry key, hub id or folder).

    Evidence, first conclusive wins: the ``_name_or_path`` recorded in ``model_index.json`` and in the
    ``clip_camera_projection`` / ``unet`` configs, then ``model`` when it is a registry key or hub id (a local
    folder's own name is not evidence)."""
    root = Path(root)
    names = []
    for rel in ("model_index.json", "clip_camera_projection/config.json", "unet/config.json"):
        f = root / rel
        try:
            value = json.loads(f.read_text()).get("_name_or_path") if f.is_file() else None
        except (OSError, ValueError):
            value = None
        if isinstance(value, str) and value:
            names.append((value, f"{rel} _name_or_path {value!r}"))
    if model and not Path(model).expanduser().exists():
        names.append((model, f"model id {model!r}"))
    for value, why in names:
        low = value.lower()
        if _STABLE.search(low):
            return "stable-zero123", why
        if _PLAIN.search(low):
            return "zero123", why
    return None, "no _name_or_path or model id that names it"


def reference_noise_seed(seed: int, image: torch.Tensor) -> int:
    """Seed of the posterior sample of one reference ``image`` (any shape): ``seed`` mixed with a hash of the
    image's float32 values, so the same image gets the same latent in any batch, order or resumed run."""
    data = image.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    digest = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    return (digest ^ (int(seed) * 0x9E3779B97F4A7C15)) % (2 ** 63)


def clip_pixels_pil(x: torch.Tensor, processor) -> torch.Tensor:
    """CLIP input ``[B, 3, S, S]`` (float32) of images ``x`` ``[B, 3, H, W]`` in [0, 1], as the upstream Zero123
    pipelines make it: ``uint8 = trunc(255 x)`` (torchvision's ``to_pil_image``), then ``processor`` (a
    transformers ``CLIPImageProcessorPil``: PIL bicubic resize of the short side, centre crop, /255, mean/std)."""
    from PIL import Image

    u8 = (x.detach().float().clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return processor(images=[Image.fromarray(a) for a in u8], return_tensors="pt").pixel_values.float()


def _projection_class():
    from diffusers import ConfigMixin, ModelMixin
    from diffusers.configuration_utils import register_to_config

    class CLIPCameraProjection(ModelMixin, ConfigMixin):
        """Zero123's ``clip_camera_projection``: ``Linear(embedding_dim + additional_embeddings -> embedding_dim)``.

        Same class name, config keys and weight names (``proj.weight``, ``proj.bias``) as the
        checkpoints' ``zero123.py``.
        """

        @register_to_config
        def __init__(self, embedding_dim: int = 768, additional_embeddings: int = 4):
            super().__init__()
            self.proj = torch.nn.Linear(embedding_dim + additional_embeddings, embedding_dim)

        def forward(self, embedding: torch.Tensor) -> torch.Tensor:
            return self.proj(embedding)

    CLIPCameraProjection.__module__ = __name__
    return CLIPCameraProjection


_CLS: dict[str, type] = {}


def __getattr__(name: str):  # CLIPCameraProjection is built on first use so diffusers loads lazily
    if name == "CLIPCameraProjection":
        if name not in _CLS:
            _CLS[name] = _projection_class()
        return _CLS[name]
    raise AttributeError(name)


class Zero123Guidance(Guidance):
    """Image-conditioned novel-view SDS (and sampling) with a Zero123 / Zero123-XL checkpoint.

    ``condition`` needs ``image`` (reference, one or one per render) and the render cameras
    (``elevation``, ``azimuth``, ``radius``, relative to ``ref_*``; see :class:`Condition`).
    Returns ``{"sds": loss}``.
    """

    kind = "zero123"
    variant: str = "zero123"
    needs = frozenset({"image", "camera"})

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self._refs: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}   # per reference image (e.g. per frame)

    def _load(self) -> None:
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import CLIPVisionModelWithProjection

        from motion4d.guidance.loading import (check_layout, load_component, load_scheduler, load_transformers,
                                               resolve_model)

        name = f"{self.variant} guidance"
        root = resolve_model(self.cfg.model, name)
        check_layout(root, ("clip_camera_projection", "image_encoder", "unet", "vae", "scheduler"),
                     f"{name} model {self.cfg.model!r}")
        dev, dt = self.device_, self.dtype
        self.vae = load_component(AutoencoderKL, root, "vae", dt, dev)
        self.unet = load_component(UNet2DConditionModel, root, "unet", dt, dev)
        if self.unet.config.in_channels != 2 * self.vae.config.latent_channels:
            raise ValueError(f"{name}: unet has {self.unet.config.in_channels} input channels; Zero123 needs "
                             f"{2 * self.vae.config.latent_channels} (noisy latent + reference latent)")
        self.cc_projection = load_component(__getattr__("CLIPCameraProjection"), root, "clip_camera_projection",
                                            dt, dev)
        self.image_encoder = load_transformers(CLIPVisionModelWithProjection, root / "image_encoder", dt, dev)
        self.scheduler = load_scheduler(root)
        mean, std = CLIP_MEAN, CLIP_STD
        pre = Path(root) / "feature_extractor" / "preprocessor_config.json"
        if pre.is_file():
            data = json.loads(pre.read_text())
            mean, std = data.get("image_mean", mean), data.get("image_std", std)
        self.register_buffer("clip_mean", torch.tensor(mean).reshape(1, 3, 1, 1).to(dev), persistent=False)
        self.register_buffer("clip_std", torch.tensor(std).reshape(1, 3, 1, 1).to(dev), persistent=False)
        self.clip_processor = self._clip_processor(pre)
        self.detected_variant, evidence = detect_zero123_variant(root, self.cfg.model)
        if self.detected_variant not in (None, self.variant):
            warnings.warn(f"{name}: the checkpoint {self.cfg.model!r} looks like {self.detected_variant} ({evidence}), "
                          f"but type={self.variant}; its camera vector follows type ({self.variant}). Set type: "
                          f"{self.detected_variant} if that is the model", stacklevel=2)

    def _clip_processor(self, config_file: Path):
        """transformers' PIL-backed CLIP processor from ``feature_extractor`` (else CLIP's defaults), sized for
        this image encoder."""
        from transformers import CLIPImageProcessorPil

        size = int(self.image_encoder.config.image_size)
        kw = {"size": {"shortest_edge": size}, "crop_size": {"height": size, "width": size}}
        if not config_file.is_file():
            return CLIPImageProcessorPil(image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), **kw)
        proc = CLIPImageProcessorPil.from_pretrained(str(config_file.parent))
        crop = proc.crop_size or {}
        if (crop.get("height"), crop.get("width")) != (size, size):  # a config for another encoder size
            proc = CLIPImageProcessorPil.from_pretrained(str(config_file.parent), **kw)
        return proc

    # -- reference embeddings ------------------------------------------------------------------
    @torch.no_grad()
    def embed_reference(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(clip_embeds [R, 1, 768], ref_latents [R, 4, h, w])`` of reference image(s) in [0, 1].

        The latent is **not** multiplied by the scaling factor (how Zero123 was trained): one posterior sample
        per image (``zero123.reference_latent: sample``, seeded by :func:`reference_noise_seed`) or the mode.
        """
        self.load()
        opts = getattr(self.cfg, "zero123", None) or Zero123Options()
        x = to_bchw(image, "condition.image").to(self.device_, torch.float32)
        x = self.resize(x, (self.cfg.height, self.cfg.width))
        if opts.clip_preprocess == "pil":
            clip_in = clip_pixels_pil(x, self.clip_processor).to(self.device_)
        else:
            size = self.image_encoder.config.image_size
            clip_in = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            clip_in = (clip_in - self.clip_mean) / self.clip_std
        emb = self.image_encoder(clip_in.to(self.dtype)).image_embeds.float()[:, None]
        posterior = self.vae.encode((x * 2 - 1).to(self.dtype)).latent_dist
        if opts.reference_latent == "mode":
            return emb, posterior.mode().float()
        seed = self.cfg.seed if opts.reference_seed is None else opts.reference_seed
        noise = torch.stack([torch.randn(posterior.mean.shape[1:], generator=torch.Generator().manual_seed(
            reference_noise_seed(seed, img))) for img in x])
        return emb, (posterior.mean.float() + posterior.std.float() * noise.to(self.device_))

    def _reference(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached :meth:`embed_reference` (up to 256 images: every frame of a reference video)."""
        import hashlib

        image = torch.as_tensor(image)
        data = image.detach().float().contiguous().cpu().numpy()
        key = (tuple(image.shape), hashlib.sha1(data.tobytes()).hexdigest())      # content, not address
        if key not in self._refs:
            if len(self._refs) >= 256:
                self._refs.pop(next(iter(self._refs)))
            self._refs[key] = self.embed_reference(image)
        return self._refs[key]

    # -- the two pieces of the template ----------------------------------------------------------
    @torch.no_grad()
    def encode_condition(self, condition: Condition, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens [2B, 1, D], ref_latents [2B, 4, h, w])`` in CFG order: the unconditional half is zeros
        for both the cross-attention token and the concatenated reference latent."""
        emb, lat = self._reference(condition.image)
        if len(emb) not in (1, batch):
            raise ValueError(f"condition.image holds {len(emb)} references for {batch} renders; give 1 or {batch}")
        d_el, d_az, d_r = condition.relative_camera(batch)
        cam = zero123_camera(d_el, d_az, d_r, self.variant, condition.ref_elevation).to(self.device_)
        tokens = self.cc_projection(torch.cat([emb.expand(batch, -1, -1), cam[:, None]], dim=-1).to(self.dtype))
        lat = lat.expand(batch, -1, -1, -1).to(self.dtype)
        return torch.cat([torch.zeros_like(tokens), tokens]), torch.cat([torch.zeros_like(lat), lat])

    def predict_noise(self, latents_noisy: torch.Tensor, t: torch.Tensor,
                      cond: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """UNet output for ``[noisy latent, reference latent]`` (8 channels) and the camera token."""
        tokens, ref_latents = cond
        x = torch.cat([latents_noisy, ref_latents.to(latents_noisy.dtype)], dim=1)
        return self.unet(x, t, encoder_hidden_states=tokens).sample

    # -- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def novel_view(self, image: torch.Tensor, d_elevation: Any, d_azimuth: Any, d_radius: Any = 0.0,
                   ref_elevation: float = 0.0, num_inference_steps: int = 50, guidance_scale: float = 3.0,
                   seed: int | None = None) -> torch.Tensor:
        """Sample novel views with DDIM: reference ``image`` + camera deltas (motion4d convention).

        Returns ``[B, H, W, 3]`` in [0, 1] (``B`` = number of deltas), at the model's input size.
        """
        self.load()
        from diffusers import DDIMScheduler

        d_el, d_az, d_r = torch.broadcast_tensors(*(torch.as_tensor(v, dtype=torch.float32).reshape(-1)
                                                    for v in (d_elevation, d_azimuth, d_radius)))
        cond = Condition.relative(image, d_el, d_az, d_r, ref_elevation=ref_elevation)
        B = len(d_el)
        cond2 = self.encode_condition(cond, B)
        sched = DDIMScheduler.from_config(self.scheduler.config, prediction_type="epsilon")  # we pass eps
        sched.set_timesteps(num_inference_steps, device=self.device_)
        gen = self.generator if seed is None else torch.Generator().manual_seed(seed)
        shape = (B, self.vae.config.latent_channels, *cond2[1].shape[-2:])
        latents = torch.randn(shape, generator=gen).to(self.device_) * sched.init_noise_sigma
        for t in sched.timesteps:
            tt = t.reshape(1).expand(B).to(self.device_)
            eps = self.guided_noise(sched.scale_model_input(latents, t), tt, cond2, guidance_scale)[0]
            latents = sched.step(eps, t, latents, eta=0.0).prev_sample
        return self.decode_latents(self.vae, latents).permute(0, 2, 3, 1)

    @torch.no_grad()
    def refine(self, images: torch.Tensor, condition: Condition, strength: float = 0.8, num_inference_steps: int = 50,
               guidance_scale: float = 5.0, seed: int | None = None) -> torch.Tensor:
        """DreamGaussian's ``refine``: SDEdit-style DDIM from ``strength`` of the way to noise.

        Encodes the renders, noises them to the DDIM step ``strength * num_inference_steps`` from the end
        and denoises with the condition (reference image + render cameras). Returns ``[B, H, W, 3]`` in
        [0, 1] at the model's input size: targets for an MSE (mesh texture refinement).
        ``strength = 0`` returns the VAE round trip of the renders.
        """
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        self.load()
        from diffusers import DDIMScheduler

        x = self.resize(to_bchw(images).to(self.device_).float(), (self.cfg.height, self.cfg.width))
        B = x.shape[0]
        cond2 = self.encode_condition(condition, B)
        sched = DDIMScheduler.from_config(self.scheduler.config, prediction_type="epsilon")
        sched.set_timesteps(num_inference_steps, device=self.device_)
        timesteps = sched.timesteps[num_inference_steps - int(round(strength * num_inference_steps)):]
        latents = self.encode_images(self.vae, x, sample=False)
        if len(timesteps):
            gen = self.generator if seed is None else torch.Generator().manual_seed(seed)
            noise = torch.randn(latents.shape, generator=gen).to(self.device_)
            latents = sched.add_noise(latents, noise, timesteps[:1].expand(B))
        for t in timesteps:
            tt = t.reshape(1).expand(B).to(self.device_)
            eps = self.guided_noise(latents, tt, cond2, guidance_scale)[0]
            latents = sched.step(eps, t, latents, eta=0.0).prev_sample
        return self.decode_latents(self.vae, latents).permute(0, 2, 3, 1)


class StableZero123Guidance(Zero123Guidance):
    """Stable Zero123 (DreamGaussian4D's default): Zero123 with the reference's absolute polar angle as the
    4th camera entry (:func:`zero123_camera` ``variant="stable-zero123"``)."""

    kind = "stable-zero123"
    variant = "stable-zero123"
