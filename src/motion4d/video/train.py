"""MotionDirector's dual-path LoRA training on a text-to-video UNet3D (research notes §2).

One step (batch of one cached clip ``z0`` [1, C, F, h, w], shared noise ε and timestep t):

1. With probability ``spatial_mask_prob`` (0.2) the spatial LoRA is switched off for this step (no spatial loss).
2. **Spatial path** (not masked, spatial LoRA trained): one random frame i, temporal LoRA off and every temporal
   layer bypassed (:func:`motion4d.video.temporal_bypass.temporal_bypass`):
   ``loss_spatial = MSE(unet(z_t[:, :, i:i+1]), target[:, :, i:i+1])`` -> spatial optimizer step.
3. **Temporal path** (video clips, temporal LoRA trained): the full clip with the temporal LoRA on and the spatial
   LoRA frozen (and off when masked): ``loss_temporal = lambda_org * MSE + lambda_ad * L_ad`` (appearance-debiased,
   random anchor frame) -> temporal optimizer step.

Differences from MotionDirector, on purpose: the temporal forward runs after the spatial step (MotionDirector runs
both forwards first); spatial LoRA weights get no gradient from the temporal loss (MotionDirector computes and then
discards it); several random clips per video are cached (MotionDirector caches one).

Run folder::

    RUN/config.yaml  RUN/log.jsonl  RUN/result.json  RUN/spatial.safetensors  RUN/temporal.safetensors
    RUN/cache/clip-0000.safetensors ...     (latent cache, usable as --noise-prior-video)
    RUN/checkpoints/step-000050/{spatial,temporal,state}.safetensors    (the last ``keep_checkpoints``)
    RUN/samples/step-000050/{video.mp4, video.gif, frames/, settings.json}
"""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from motion4d.config import config_to_yaml
from motion4d.utils.io import atomic_path, write_json
from motion4d.utils.progress import progress
from motion4d.video.config import TrainMotionConfig

__all__ = ["TrainResult", "train_motion", "latest_checkpoint"]


@dataclass
class TrainResult:
    """What a finished run wrote: adapter files (None for an untrained path), the log and sample folders."""

    output_dir: Path
    spatial: Path | None
    temporal: Path | None
    steps: int
    log: Path
    samples: list[Path] = field(default_factory=list)
    losses: list[dict] = field(default_factory=list)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoints/step-N`` folder of a run (:class:`motion4d.utils.training_state.Checkpoints`),
    or None."""
    from motion4d.utils.training_state import Checkpoints

    ckpt = Checkpoints(Path(output_dir) / "checkpoints").latest()
    return ckpt.path if ckpt is not None else None


class _Trainer:
    def __init__(self, cfg: TrainMotionConfig, *, resume: bool, backbone=None, show_progress: bool = True):
        self.cfg = cfg
        self.resume = resume
        self.show_progress = show_progress
        self.out = Path(cfg.output_dir)
        self._backbone = backbone

    # -- setup -----------------------------------------------------------------------------------------
    def setup(self) -> None:
        from accelerate import Accelerator

        from motion4d.utils.device import resolve_device
        from motion4d.video.backbones import load_backbone
        from motion4d.video.checkpointing import enable_gradient_checkpointing
        from motion4d.video.data import build_latent_cache, find_media, load_cached_clip
        from motion4d.video.lora import get_lora
        from motion4d.video.schedulers import make_scheduler

        cfg = self.cfg
        device = resolve_device(cfg.device)
        precision = cfg.mixed_precision
        if device.type != "cuda":
            precision = "no"
        elif precision == "auto":
            precision = "fp16"
        self.acc = Accelerator(cpu=device.type == "cpu", mixed_precision=precision)
        self.precision = precision
        items = find_media(cfg.data.paths, cfg.data.caption)  # errors early, before loading any model
        if self.out.exists() and any(self.out.iterdir()) and not self.resume and (self.out / "config.yaml").exists():
            raise ValueError(f"output folder {str(self.out)!r} already holds a run; pass --resume to continue it "
                             f"or choose another output_dir")
        if self.resume and latest_checkpoint(self.out) is None:
            raise ValueError(f"--resume: no checkpoint in {str(self.out / 'checkpoints')!r} yet; run without --resume")
        bb = self._backbone or load_backbone(
            cfg.model, device=str(self.acc.device), precision=precision if precision != "no" else "fp32")
        bb.check_size(cfg.data.width, cfg.data.height)
        self.bb = bb
        self.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.out / "config.yaml") as tmp:
            tmp.write_text(config_to_yaml(cfg))
        # latent cache (main process encodes, the others wait and read)
        if self.acc.is_main_process:
            files = build_latent_cache(bb, items, self.out / "cache", num_frames=cfg.data.num_frames,
                                       fps=cfg.data.fps, width=cfg.data.width, height=cfg.data.height,
                                       clips_per_video=cfg.data.clips_per_video, seed=cfg.seed,
                                       show_progress=self.show_progress)
        self.acc.wait_for_everyone()
        if not self.acc.is_main_process:
            files = sorted((self.out / "cache").glob("clip-*.safetensors"))
        self.clips = [load_cached_clip(f) for f in files]
        self.has_video = any(c.kind == "video" and c.latents.shape[1] > 1 for c in self.clips)
        # validation prompts are encoded now, then the text encoder leaves the accelerator
        self.val_prompts = list(cfg.validation.prompts) or [self.clips[0].caption]
        self.val_text = {p: bb.encode_prompt(p) for p in self.val_prompts + [""]}
        bb.offload_text_encoder()
        # adapters
        self.lora = get_lora(bb.denoiser, bb.lora_targets)
        clash = [n for n in ("spatial", "temporal") if n in self.lora.adapters]
        if clash:
            raise ValueError(f"the backbone's UNet already has adapter(s) {', '.join(clash)}; remove them first "
                             f"(motion4d.video.lora.get_lora(unet).remove(name)) or load a fresh backbone")
        self.train_spatial = cfg.lora.spatial
        self.train_temporal = cfg.lora.temporal and self.has_video
        if cfg.lora.temporal and not self.has_video:
            raise ValueError("lora.temporal is true but the data has no video clips with more than one frame; set "
                             "lora.temporal=false for appearance-only (image) training")
        torch.manual_seed(cfg.seed)  # same LoRA init on every process
        self.optimizers = {}
        for path, on in (("spatial", self.train_spatial), ("temporal", self.train_temporal)):
            if on:
                self.lora.add(path, path, rank=cfg.lora.rank, alpha=cfg.lora.alpha, dropout=cfg.lora.dropout,
                              trainable=True, convs=path == "temporal" and cfg.lora.temporal_convs)
                opt = torch.optim.AdamW(self.lora.parameters(path), lr=cfg.lr, weight_decay=cfg.weight_decay)
                self.optimizers[path] = self.acc.prepare(opt)
        torch.manual_seed(cfg.seed + 7919 * self.acc.process_index)  # LoRA dropout differs per process
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(bb.denoiser)
        # training noise: scheduler.add_noise / get_velocity (or the flow-matching interpolation)
        self.noise_scheduler = make_scheduler(bb.scheduler_config, "ddim" if bb.prediction_type != "flow"
                                              else "flow-match-euler")
        self.num_train_timesteps = int(self.noise_scheduler.config.num_train_timesteps)
        self.prediction_type = bb.prediction_type
        self.gen = torch.Generator().manual_seed(cfg.seed * 104729 + self.acc.process_index)
        self.start_step = 0
        from motion4d.utils.training_state import Checkpoints

        self.checkpoints = Checkpoints(self.out / "checkpoints", keep=cfg.keep_checkpoints)
        if self.resume:
            self._load_resume()

    def _load_resume(self) -> None:
        from motion4d.utils.training_state import load_train_state
        from motion4d.video.checkpoint import read_lora

        latest = self.checkpoints.latest()
        if latest is None:
            raise ValueError(f"--resume: no checkpoint in {str(self.out / 'checkpoints')!r} yet; run without --resume")
        self.checkpoints.resume_from(latest)
        ckpt = latest.path
        for name in self.optimizers:
            file = ckpt / f"{name}.safetensors"
            if not file.is_file():
                raise ValueError(f"--resume: {str(file)!r} is missing; the run was started with other LoRA paths")
            self.lora.load_state_dict(name, read_lora(file).tensors)
        state = load_train_state(latest.state_file, optimizers=self.optimizers, generators={"data": self.gen})
        self.start_step = state.step

    # -- one step --------------------------------------------------------------------------------------
    def _backward_step(self, name: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[name]
        self.acc.backward(loss)
        params = self.lora.parameters(name)
        if self.acc.num_processes > 1:  # LoRA gradients are small: average them by hand (no DDP wrapper)
            for p in params:
                if p.grad is not None:
                    p.grad.copy_(self.acc.reduce(p.grad, reduction="mean"))
        if self.cfg.max_grad_norm > 0:
            self.acc.clip_grad_norm_(params, self.cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def step(self) -> dict:
        from motion4d.video.losses import spatial_loss, temporal_loss
        from motion4d.video.schedulers import noisy_and_target

        cfg, bb, gen = self.cfg, self.bb, self.gen
        clip = self.clips[int(torch.randint(0, len(self.clips), (1,), generator=gen))]
        z0 = clip.latents
        if clip.kind == "image" and clip.latents_flip is not None and \
                float(torch.rand((), generator=gen)) < cfg.data.hflip_images:
            z0 = clip.latents_flip
        z0 = z0[None].to(bb.device, torch.float32)
        eps = torch.randn(z0.shape, generator=gen).to(bb.device)
        t = int(torch.randint(0, self.num_train_timesteps, (1,), generator=gen))
        zt, target = noisy_and_target(self.noise_scheduler, z0, eps, t, self.prediction_type)
        zt = zt.to(bb.dtype)
        text = clip.text[None].to(bb.device, bb.dtype)
        masked = self.train_temporal and clip.kind == "video" and \
            float(torch.rand((), generator=gen)) < cfg.spatial_mask_prob
        num_frames = z0.shape[2]
        frame = int(torch.randint(0, num_frames, (1,), generator=gen))
        anchor = int(torch.randint(0, num_frames, (1,), generator=gen))
        logs: dict = {"t": t, "masked": masked}
        net = bb.denoiser
        net.train()
        if self.train_spatial and not masked:
            off = self.lora.disabled("temporal") if "temporal" in self.lora.adapters else nullcontext()
            # backward inside the contexts: checkpointed layers recompute their forward during backward
            with off, bb.temporal_bypass():
                with self.acc.autocast():
                    pred = bb.predict(zt[:, :, frame:frame + 1], t, text)
                    loss = spatial_loss(pred, target[:, :, frame:frame + 1])
                self._backward_step("spatial", loss)
            logs["loss_spatial"] = float(loss.detach())
        if self.train_temporal and clip.kind == "video" and num_frames > 1:
            has_spatial = "spatial" in self.lora.adapters
            frozen = self.lora.frozen("spatial") if has_spatial else nullcontext()
            off = self.lora.disabled("spatial") if has_spatial and masked else nullcontext()
            with frozen, off:
                with self.acc.autocast():
                    pred = bb.predict(zt, t, text)
                    losses = temporal_loss(pred, target, anchor, lambda_org=cfg.lambda_org, lambda_ad=cfg.lambda_ad)
                self._backward_step("temporal", losses["loss"])
            logs.update({"loss_temporal" if k == "loss" else k: float(v.detach())
                         for k, v in losses.items()})
        net.eval()
        return logs

    # -- outputs ---------------------------------------------------------------------------------------
    def save_checkpoint(self, step: int) -> Path:
        from motion4d.utils.training_state import STATE_FILE, save_train_state
        from motion4d.video.checkpoint import save_adapter

        def write(tmp: Path) -> None:
            for name in self.optimizers:
                save_adapter(self.bb.denoiser, name, tmp / f"{name}.safetensors", base_model=self.bb.model_id,
                             source="motion4d train-motion", extra={"step": step})
            save_train_state(tmp / STATE_FILE, step=step, optimizers=self.optimizers, generators={"data": self.gen})

        return self.checkpoints.save(step, write).path

    def validate(self, step: int) -> list[Path]:
        from motion4d.video.inversion import ddim_invert, mix_noise_prior
        from motion4d.video.outputs import write_clip
        from motion4d.video.sampling import denoise, initial_noise

        v, bb = self.cfg.validation, self.bb
        frames = v.num_frames or self.cfg.data.num_frames
        width, height = v.width or self.cfg.data.width, v.height or self.cfg.data.height
        scales = {"spatial": v.spatial_scale} if "spatial" in self.lora.adapters else {}
        written = []
        with self.lora.scaled(**scales), torch.no_grad():
            for k, prompt in enumerate(self.val_prompts):
                shape = bb.latent_shape(1, frames, height, width)
                z = initial_noise(shape, v.seed + k, bb.device, bb.dtype)
                video_clips = [c for c in self.clips if c.kind == "video"]
                if v.noise_prior > 0 and video_clips:
                    ref = video_clips[0].latents[None].to(bb.device, bb.dtype)
                    z_inv = ddim_invert(bb, ref, self.val_text[""], steps=v.steps, show_progress=False)
                    z = mix_noise_prior(z_inv, z, v.noise_prior)
                lat = denoise(bb, z, self.val_text[prompt], self.val_text[""], steps=v.steps, guidance=v.guidance,
                              scheduler=v.scheduler, show_progress=False)
                video = bb.decode_latents(lat)[0]
                out = self.out / "samples" / (f"step-{step:06d}" + ("" if k == 0 else f"-p{k}"))
                write_clip(video, out, fps=self.cfg.data.fps, settings={
                    "prompt": prompt, "step": step, "seed": v.seed + k, "steps": v.steps, "guidance": v.guidance,
                    "noise_prior": v.noise_prior, "scales": {n: a.scale for n, a in self.lora.adapters.items()}})
                written.append(out)
        return written

    # -- loop ------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        from motion4d.video.checkpoint import save_adapter

        cfg = self.cfg
        self.setup()
        log_file = self.out / "log.jsonl"
        if not self.resume and log_file.exists():
            log_file.unlink()
        losses, samples = [], []
        main = self.acc.is_main_process
        bar = progress(range(self.start_step, cfg.steps), total=cfg.steps - self.start_step, desc="train-motion",
                       disable=None if (self.show_progress and main) else True)
        t0 = time.time()
        for i in bar:
            step = i + 1
            logs = self.step()
            logs["step"] = step
            logs["time"] = round(time.time() - t0, 3)
            losses.append(logs)
            if not all(math.isfinite(v) for k, v in logs.items() if k.startswith("loss")):
                bad = {k: v for k, v in logs.items() if k.startswith("loss") and not math.isfinite(v)}
                raise ValueError(f"train-motion diverged at step {step}: non-finite {bad}. Lower lr or use "
                                 f"mixed_precision=bf16/no, then continue with --resume from the last checkpoint in "
                                 f"{Path(cfg.output_dir) / 'checkpoints'} (nothing was saved after this step)")
            if main:
                with open(log_file, "a") as fh:
                    fh.write(json.dumps(logs) + "\n")
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k.startswith("loss_")})
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    self.save_checkpoint(step)
                if cfg.validation.every > 0 and step % cfg.validation.every == 0 and step != cfg.steps:
                    samples += self.validate(step)
            self.acc.wait_for_everyone()
        paths = {}
        if main:
            for name in self.optimizers:
                paths[name] = save_adapter(self.bb.denoiser, name, self.out / f"{name}.safetensors",
                                           base_model=self.bb.model_id, source="motion4d train-motion",
                                           extra={"step": cfg.steps, "captions": sorted({c.caption for c in self.clips})})
            if cfg.validation.every >= 0:
                samples += self.validate(cfg.steps)
            write_json(self.out / "result.json", {
                "model": self.bb.model_id, "steps": cfg.steps, "spatial": str(paths.get("spatial") or ""),
                "temporal": str(paths.get("temporal") or ""), "cache": str(self.out / "cache"),
                "samples": [str(s) for s in samples], "log": str(log_file),
                "last_losses": losses[-1] if losses else {}})
        return TrainResult(output_dir=self.out, spatial=paths.get("spatial"), temporal=paths.get("temporal"),
                           steps=cfg.steps, log=log_file, samples=samples, losses=losses)


def train_motion(cfg: TrainMotionConfig, *, resume: bool = False, backbone=None,
                 show_progress: bool = True) -> TrainResult:
    """Train spatial and/or temporal LoRAs as configured (see the module docstring); ``resume=True`` continues
    from the newest checkpoint in ``cfg.output_dir``. ``backbone`` may pass an already loaded
    backbone (:class:`~motion4d.video.backbones.VideoBackbone`; its denoiser must not carry adapters yet)."""
    return _Trainer(cfg, resume=resume, backbone=backbone, show_progress=show_progress).run()
