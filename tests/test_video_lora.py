"""Dual-path LoRA: targets, switching/scales, and what a short training run changes."""
import pytest
import torch

from _video_tiny import load_tiny, tiny_model_dir, unet_out, write_square_video
from motion4d.video.lora import DualPathLoRA, target_module_names


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


def test_targets_follow_motiondirector_rule(model_dir):
    bb = load_tiny(model_dir)
    spatial = target_module_names(bb.unet, "spatial")
    temporal = target_module_names(bb.unet, "temporal")
    # 4 spatial transformers x 6 Linear layers (attn1 q/k/v/out, ff in/out); 5 temporal x 10 (attn1, attn2, ff)
    assert (len(spatial), len(temporal)) == (4 * 6, 5 * 10)
    assert not set(spatial) & set(temporal)
    assert not any(".attn2." in n for n in spatial)
    assert temporal[0] == "transformer_in.transformer_blocks.0.attn1.to_q"
    assert temporal[-1].startswith("mid_block.")  # traversal order: mid_block after up_blocks
    assert spatial[-1].startswith("mid_block.")


def test_adapters_switch_and_scale(model_dir):
    bb = load_tiny(model_dir)
    x = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    base = unet_out(bb, x)
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(1)
    lora.add("spatial", "spatial", rank=4, init="random")
    lora.add("temporal", "temporal", rank=4, init="random")
    both = unet_out(bb, x)
    assert (both - base).abs().max() > 1e-3
    with lora.disabled():
        assert torch.equal(unet_out(bb, x), base)
    with lora.disabled("spatial"):
        only_t = unet_out(bb, x)
    with lora.disabled("temporal"):
        only_s = unet_out(bb, x)
    assert (only_t - base).abs().max() > 1e-4 and (only_s - base).abs().max() > 1e-4
    assert (only_t - only_s).abs().max() > 1e-4
    with lora.scaled(spatial=0.0, temporal=0.0):
        assert torch.equal(unet_out(bb, x), base)
    # scale moves the output continuously away from the base: 0 < d(0.5) < d(1) < d(2)
    d = {}
    for s in (0.5, 1.0, 2.0):
        with lora.scaled(temporal=s), lora.disabled("spatial"):
            d[s] = float((unet_out(bb, x) - base).norm())
    assert 0 < d[0.5] < d[1.0] < d[2.0]
    assert d[0.5] == pytest.approx(d[1.0] / 2, rel=0.2)
    assert torch.equal(unet_out(bb, x), both)  # contexts restore the state exactly
    lora.enable("temporal", False)
    assert torch.allclose(unet_out(bb, x), only_s)
    with pytest.raises(KeyError, match="no LoRA adapter 'motion'"):
        lora.set_scale("motion", 1.0)
    with pytest.raises(ValueError, match="already exists"):
        lora.add("spatial", "spatial")
    with pytest.raises(ValueError, match="not one of"):
        lora.add("x", "both")


@pytest.fixture(scope="module")
def trained(model_dir, tmp_path_factory):
    """A 12-step dual-path run on a moving-square clip, with the base weights and an eval loss before/after."""
    from motion4d.config import load_config
    from motion4d.video.config import TrainMotionConfig
    from motion4d.video.train import train_motion

    root = tmp_path_factory.mktemp("train")
    video = write_square_video(root / "square.mp4", num_frames=8)
    cfg = load_config(TrainMotionConfig, data={
        "model": str(model_dir), "output_dir": str(root / "run"), "seed": 0,
        "data": {"paths": [str(video)], "caption": "lower", "num_frames": 4, "width": 32, "height": 32,
                 "clips_per_video": 1},
        "lora": {"rank": 4, "dropout": 0.0}, "steps": 12, "lr": 2e-2, "checkpoint_every": 6,
        "validation": {"every": -1}})
    bb = load_tiny(model_dir)
    base = {k: v.clone() for k, v in bb.unet.state_dict().items()}
    from motion4d.video.data import build_latent_cache, find_media, load_cached_clip

    clip = load_cached_clip(build_latent_cache(bb, find_media([str(video)], "lower"), root / "probe", num_frames=4,
                                               fps=8, width=32, height=32, show_progress=False)[0])
    before = _eval_loss(bb, clip)
    res = train_motion(cfg, backbone=bb, show_progress=False)
    return {"bb": bb, "base": base, "res": res, "before": before, "after": _eval_loss(bb, clip), "cfg": cfg}


def _eval_loss(bb, clip):
    """The temporal-path objective at fixed timesteps and noises (no randomness)."""
    from diffusers import DDIMScheduler

    from motion4d.video.losses import temporal_loss

    alphas = DDIMScheduler.from_config(bb.scheduler_config).alphas_cumprod
    g = torch.Generator().manual_seed(123)
    z0 = clip.latents[None]
    text = clip.text[None]
    total = 0.0
    with torch.no_grad():
        for t in (100, 300, 500, 700, 900):
            eps = torch.randn(z0.shape, generator=g)
            a = float(alphas[t])
            pred = bb.unet(a ** 0.5 * z0 + (1 - a) ** 0.5 * eps, t, encoder_hidden_states=text).sample
            total += float(temporal_loss(pred, eps, anchor=0)["loss"])
    return total / 5


def test_only_lora_parameters_train(trained):
    bb, base = trained["bb"], trained["base"]
    after = bb.unet.state_dict()
    lora_keys = [k for k in after if "lora_" in k]
    base_keys = [k for k in after if "lora_" not in k]
    assert lora_keys and len(base_keys) == len(base)
    for k in base_keys:  # peft renames wrapped layers to <name>.base_layer.weight
        orig = k.replace(".base_layer.", ".")
        assert torch.equal(after[k], base[orig]), k
    trainable = [n for n, p in bb.unet.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    changed = [k for k in lora_keys if "lora_B" in k and after[k].abs().max() > 0]
    assert len(changed) == len(lora_keys) // 2  # every lora_B left its zero init (both paths trained)


def test_training_loss_decreases(trained):
    assert trained["after"] < trained["before"] * 0.95, (trained["before"], trained["after"])
    log = [__import__("json").loads(line) for line in trained["res"].log.read_text().splitlines()]
    assert len(log) == 12 and all("loss_temporal" in e for e in log)
    assert any("loss_spatial" in e for e in log)


def test_run_folder_and_checkpoint_metadata(trained):
    from motion4d.video.checkpoint import read_lora

    res = trained["res"]
    assert res.temporal.is_file() and res.spatial.is_file()
    ck = read_lora(res.temporal)
    assert (ck.path, ck.rank, ck.alpha, ck.base_model) == ("temporal", 4, 4.0, "motion4d-tests/tiny-t2v")
    assert len(ck.layer_names) == 50 and ck.base_model_probe and ck.motion4d_version
    ckpts = sorted(p.name for p in (res.output_dir / "checkpoints").iterdir())
    assert ckpts == ["step-000006", "step-000012"]
    assert (res.output_dir / "result.json").is_file() and (res.output_dir / "config.yaml").is_file()
