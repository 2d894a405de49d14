"""Peak GPU memory (and step time) of train-motion at MotionDirector's 384x384x16 with ZeroScope's architecture.

Usage:
    PYTHONPATH=src python benchmarks/train_memory.py [--quick] [--json PATH] [--frames 16 --size 384]
        [--no-checkpointing] [--precision fp16|bf16] [--rank 32]

No weights are downloaded: the UNet is diffusers' default UNet3DConditionModel (= ZeroScope/ModelScope architecture,
1.41 B parameters) with random weights, which costs the same memory and time as the real one. VAE, text encoder and
tokenizer are tiny stand-ins (training reads cached latents, so the real VAE only adds its ~0.17 GB of fp16 weights,
and the real text encoder is moved off the GPU after caching). The full loop of ``train_motion`` runs (spatial path
with temporal bypass, temporal path with the debiased loss, two optimizers, mixed precision, per-layer gradient
checkpointing) and ``torch.cuda.max_memory_allocated`` is reported. ``--quick`` runs a tiny UNet on the CPU to
check that the script works (no memory figure). Issue #6 target: <= 12 GB at 384x384x16 (MotionDirector ~14 GB).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def build_standin(folder: Path, full_unet: bool, latent_factor: int) -> Path:
    """A model folder with the real-size UNet (or the tiny test UNet), and tiny VAE/CLIP stand-ins."""
    import json as js

    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from _video_tiny import build_tiny_model

    build_tiny_model(folder)  # tokenizer, scheduler, model_index (+ tiny parts replaced below)
    torch.manual_seed(0)
    if full_unet:
        UNet3DConditionModel().save_pretrained(folder / "unet")
        hidden = 1024
    else:
        hidden = 4
    blocks = {2: 2, 8: 4}[latent_factor]
    AutoencoderKL(block_out_channels=(8,) * blocks, down_block_types=("DownEncoderBlock2D",) * blocks,
                  up_block_types=("UpDecoderBlock2D",) * blocks, latent_channels=4, norm_num_groups=2,
                  scaling_factor=0.18215).save_pretrained(folder / "vae")
    CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=hidden,
                                 intermediate_size=16, num_attention_heads=2 if hidden == 4 else 16,
                                 num_hidden_layers=1, vocab_size=1000, projection_dim=32)
                  ).save_pretrained(folder / "text_encoder")
    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                  set_alpha_to_one=False).save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(js.dumps({"_name_or_path": "benchmark/zeroscope-architecture"}))
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny UNet on the CPU: checks the script only")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--steps", type=int, default=4, help="training steps (the first is a warm-up)")
    p.add_argument("--precision", default="fp16", choices=["fp16", "bf16"])
    p.add_argument("--no-checkpointing", action="store_true")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    from motion4d.config import load_config
    from motion4d.video.config import TrainMotionConfig
    from motion4d.utils.media import write_mp4
    from motion4d.video.train import train_motion

    cuda = torch.cuda.is_available() and not args.quick
    frames, size = (4, 32) if args.quick else (args.frames, args.size)
    if args.quick:
        torch.set_num_threads(1)
        args.rank, args.steps = min(args.rank, 4), min(args.steps, 3)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_standin(tmp / "model", full_unet=not args.quick, latent_factor=2 if args.quick else 8)
        video = write_mp4(torch.rand(frames + 2, size, size, 3), tmp / "clip.mp4", fps=8)
        cfg = load_config(TrainMotionConfig, data={
            "model": str(model), "output_dir": str(tmp / "run"), "device": "cuda" if cuda else "cpu",
            "mixed_precision": args.precision, "gradient_checkpointing": not args.no_checkpointing,
            "data": {"paths": [str(video)], "caption": "lower", "num_frames": frames, "width": size, "height": size,
                     "clips_per_video": 1},
            "lora": {"rank": args.rank}, "steps": args.steps, "spatial_mask_prob": 0.0,
            "checkpoint_every": 10_000, "validation": {"every": -1}})
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.time()
        res = train_motion(cfg, show_progress=False)
        elapsed = time.time() - t0
        times = [e["time"] for e in res.losses]
        step_s = (times[-1] - times[0]) / max(1, len(times) - 1)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    device = torch.cuda.get_device_name() if cuda else "cpu"
    result = {"device": device, "frames": frames, "size": size, "rank": args.rank, "precision": args.precision,
              "gradient_checkpointing": not args.no_checkpointing, "peak_gib": peak, "step_seconds": step_s,
              "total_seconds": round(elapsed, 1), "full_size_unet": not args.quick}
    print(f"train-motion memory ({device}; {'ZeroScope-size' if not args.quick else 'tiny'} UNet, {frames}x{size}x"
          f"{size}, rank {args.rank}, {args.precision}, checkpointing {'on' if not args.no_checkpointing else 'off'})")
    print(f"  peak allocated: {peak:.2f} GiB" if peak is not None else "  peak allocated: n/a (CPU)")
    print(f"  step time (spatial + temporal path): {step_s:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
