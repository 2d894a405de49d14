"""What diffusers' ``StableVideoDiffusionPipeline`` feeds its UNet, computed the same way for training tiny-svd.

The pipeline (diffusers 0.42, ``pipeline_stable_video_diffusion.py``) with an ``EulerDiscreteScheduler`` configured as
SVD's (:data:`SCHEDULER`: v-prediction, ``timestep_type="continuous"``, Karras sigmas in [0.002, 700]) does, for an
input PIL image and ``noise_aug_strength`` ``a``:

- **image embedding** (cross-attention, one token): PIL -> [0, 1] -> ``[-1, 1]`` -> ``_resize_with_antialiasing`` to
  224x224 -> ``[0, 1]`` -> ``feature_extractor`` (mean/std only) -> ``image_encoder(...).image_embeds`` ``[B, 1, D]``
  (:func:`image_embeds`);
- **conditioning latent** (concatenated to every frame on the channel axis): ``vae.encode(x + a * n).latent_dist
  .mode()`` of the image ``x`` in ``[-1, 1]`` plus pixel noise ``n``, **not** multiplied by ``scaling_factor``
  (:func:`condition_latent`);
- **added_time_ids** ``[fps - 1, motion_bucket_id, a]`` (:func:`added_time_ids`);
- **EDM preconditioning** with ``sigma_data = 1`` (:func:`edm_scalings`): UNet input ``c_in * x`` with
  ``c_in = 1 / sqrt(sigma^2 + 1)``, timestep ``c_noise = 0.25 ln sigma``, and the scheduler's denoised estimate
  ``c_skip * x + c_out * F`` with ``c_skip = 1 / (sigma^2 + 1)``, ``c_out = -sigma / sqrt(sigma^2 + 1)``;
- **classifier-free guidance**: the unconditional half has the embedding **and** the conditioning latent zeroed.

So a noisy clip latent is ``x = z0 + sigma * eps`` (``z0`` = VAE mode x ``scaling_factor``, frames before channels:
``[B, F, 4, h, w]``) and the training target of the UNet output is ``F* = (z0 - c_skip x) / c_out
= (eps - sigma z0) / sqrt(sigma^2 + 1)`` (:func:`noisy_and_target`); the plain MSE on ``F`` equals EDM's
``(sigma^2 + 1) / sigma^2``-weighted MSE on the denoised estimate (SVD's training loss).
"""
from __future__ import annotations

import copy

import torch

__all__ = ["SCHEDULER", "CLIP_SIZE", "vision_tower_224", "image_embeds", "condition_latent", "added_time_ids",
           "edm_scalings", "noisy_and_target", "quantize"]

SCHEDULER = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "clip_sample": False, "interpolation_type": "linear",
             "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": False,
             "sigma_max": 700.0, "sigma_min": 0.002, "skip_prk_steps": True, "steps_offset": 1,
             "timestep_spacing": "leading", "timestep_type": "continuous", "trained_betas": None,
             "use_karras_sigmas": True}
"""stabilityai/stable-video-diffusion-img2vid's ``scheduler/scheduler_config.json``."""
CLIP_SIZE = 224
"""The pipeline resizes the image to 224x224 for its CLIP encoder, whatever the encoder's own size."""


def _area_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """``[n_out, n_in]`` rows averaging equal, possibly fractional, spans of ``n_in`` samples (rows sum to 1)."""
    f = n_in / n_out
    a = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        lo, hi = i * f, (i + 1) * f
        for j in range(int(lo), min(n_in, int(hi) + 1)):
            a[i, j] = max(0.0, min(hi, j + 1) - max(lo, j)) / f
    return a


def vision_tower_224(clip_dir) -> "torch.nn.Module":
    """tiny-clip's vision tower and projection as a ``CLIPVisionModelWithProjection`` that reads 224x224 images.

    The pipeline always resizes to 224 px; tiny-clip reads 64 px in 8 px patches (8x8 patches). The tower here has
    ``image_size=224`` and ``patch_size=28`` (the same 8x8 patches, so the same position embeddings and layers) and
    its patch kernel is tiny-clip's kernel spread over each 28 px patch by area (``W28 = A^T W8 A``): applying it
    equals area-downsampling the 224 px image to 64 px and applying tiny-clip's kernel. Everything else is copied.
    """
    from transformers import CLIPModel, CLIPVisionModelWithProjection

    clip = CLIPModel.from_pretrained(str(clip_dir))
    vcfg = copy.deepcopy(clip.config.vision_config)
    size, patch = int(vcfg.image_size), int(vcfg.patch_size)
    if (CLIP_SIZE * patch) % size:
        raise ValueError(f"tiny-clip image_size {size} / patch_size {patch} cannot be re-expressed at {CLIP_SIZE} px")
    vcfg.projection_dim = clip.config.projection_dim
    vcfg.image_size, vcfg.patch_size = CLIP_SIZE, CLIP_SIZE * patch // size
    tower = CLIPVisionModelWithProjection(vcfg)
    state = dict(clip.vision_model.state_dict())
    w = state["embeddings.patch_embedding.weight"]
    a = _area_matrix(patch, vcfg.patch_size)
    state["embeddings.patch_embedding.weight"] = torch.einsum("ocij,ia,jb->ocab", w.double(), a, a).to(w.dtype)
    tower.vision_model.load_state_dict(state)
    tower.visual_projection.load_state_dict(clip.visual_projection.state_dict())
    return tower.eval()


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] rounded to uint8 levels, as ``image_to_video`` hands them to the pipeline (a PIL image)."""
    return (x.clamp(0, 1) * 255).round() / 255


@torch.no_grad()
def image_embeds(images: torch.Tensor, encoder, processor) -> torch.Tensor:
    """CLIP image embeddings ``[B, D]`` of ``images`` ``[B, 3, H, W]`` in [0, 1] (uint8 levels, see :func:`quantize`),
    exactly as the pipeline's ``_encode_image`` computes them for a PIL image."""
    from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing

    dev = next(encoder.parameters()).device
    x = _resize_with_antialiasing(images.float() * 2.0 - 1.0, (CLIP_SIZE, CLIP_SIZE))
    x = (x + 1.0) / 2.0
    px = processor(images=x, do_normalize=True, do_center_crop=False, do_resize=False, do_rescale=False,
                   return_tensors="pt").pixel_values
    return encoder(px.to(dev, next(encoder.parameters()).dtype)).image_embeds.float()


def condition_latent(images: torch.Tensor, vae, noise_aug: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The pipeline's conditioning latent ``[B, 4, h, w]``: VAE posterior mode (unscaled) of ``images`` ``[B, 3, H, W]``
    in [0, 1] mapped to [-1, 1], plus ``noise_aug`` ``[B]`` times pixel ``noise`` ``[B, 3, H, W]``."""
    dev = next(vae.parameters()).device
    x = images.float() * 2.0 - 1.0 + noise_aug.float().view(-1, 1, 1, 1) * noise.float()
    return vae.encode(x.to(dev)).latent_dist.mode()


def added_time_ids(fps: int, motion_bucket_id: int, noise_aug: torch.Tensor) -> torch.Tensor:
    """``[B, 3]``: ``[fps - 1, motion_bucket_id, noise_aug]`` per row (the pipeline passes ``fps - 1``)."""
    n = noise_aug.float().view(-1)
    return torch.stack([torch.full_like(n, float(fps) - 1.0), torch.full_like(n, float(motion_bucket_id)), n], 1)


def edm_scalings(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(c_skip, c_out, c_in, c_noise)`` of SVD's v-prediction EDM preconditioning (``sigma_data = 1``), as the
    Euler scheduler applies them (``scale_model_input``, continuous timesteps, ``step``)."""
    s = sigma.float()
    return 1.0 / (s ** 2 + 1), -s / (s ** 2 + 1).sqrt(), 1.0 / (s ** 2 + 1).sqrt(), 0.25 * s.log()


def noisy_and_target(z0: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, unet_input, timestep, target)`` for clean latents ``z0`` ``[B, ...]``, noise ``eps`` and ``sigma`` ``[B]``:
    ``x = z0 + sigma eps``, ``unet_input = c_in x``, ``timestep = c_noise`` ``[B]`` and ``target = (z0 - c_skip x) /
    c_out``, so that the scheduler's denoised estimate from the exact target is ``z0``."""
    shape = (-1,) + (1,) * (z0.ndim - 1)
    c_skip, c_out, c_in, c_noise = edm_scalings(sigma)
    x = z0 + sigma.float().view(shape) * eps
    target = (z0 - c_skip.view(shape) * x) / c_out.view(shape)
    return x, c_in.view(shape) * x, c_noise, target
