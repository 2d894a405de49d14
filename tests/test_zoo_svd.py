"""tiny-svd (motion4d.zoo.svd): the exported folder is what load_svd / image_to_video load and sample from, the
training conditioning and EDM preconditioning are the pipeline's and scheduler's, condition dropout, the keep/move
judge, and the image-to-4d pipeline on an exported toy tiny-svd."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motion4d.video.image_to_video import ImageToVideoSettings, image_to_video, load_svd
from motion4d.zoo import ShippedWeightsError, check_shipped, task_module, train
from motion4d.zoo.svd import KEY, build, defaults, loss
from motion4d.zoo.svd_cond import SCHEDULER, added_time_ids, condition_latent, edm_scalings, noisy_and_target

TOY = {"steps": 2, "clips": 2, "batch": 2, "channels": "32,32", "heads": "1,1", "warmup": 1, "ckpt_every": 2,
       "log_every": 1}
SMALL = ImageToVideoSettings(frames=8, width=64, height=64, steps=2)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A 2-step tiny-svd run on 2 clips (toy UNet), on the shipped tiny-vae and tiny-clip."""
    out = tmp_path_factory.mktemp("svd") / "run"
    train(task_module(KEY), out, TOY, show_progress=False, threads=None)
    return out


@pytest.fixture(scope="module")
def toy_pipe(toy_run):
    return load_svd(str(check_shipped(KEY, toy_run / "model")), device="cpu")


def _disc_image(colour=(200, 30, 30)) -> np.ndarray:
    yy, xx = np.mgrid[:64, :64]
    img = np.full((64, 64, 3), 255, np.uint8)
    img[(yy - 30) ** 2 + (xx - 34) ** 2 <= 100] = colour
    return img


def test_exported_folder_is_an_svd_pipeline_that_samples(toy_pipe, toy_run):
    index = json.loads((toy_run / "model" / "model_index.json").read_text())
    assert index["_class_name"] == "StableVideoDiffusionPipeline" and index["vae"] == ["diffusers", "AutoencoderKL"]
    assert toy_pipe.unet.config.in_channels == 8 and toy_pipe.vae_scale_factor == 4
    assert toy_pipe.unet.dtype == torch.float32                                   # fp16 file, fp32 on the CPU
    sched = toy_pipe.scheduler.config
    assert (sched.prediction_type, sched.timestep_type, sched.use_karras_sigmas) == ("v_prediction", "continuous", True)
    assert toy_pipe.image_encoder.config.image_size == 224                         # the pipeline resizes to 224
    a = image_to_video(_disc_image(), SMALL, seed=0, pipe=toy_pipe)
    b = image_to_video(_disc_image(), SMALL, seed=0, pipe=toy_pipe)
    c = image_to_video(_disc_image(), SMALL, seed=1, pipe=toy_pipe)
    assert a.shape == (8, 64, 64, 3) and np.array_equal(a, b) and not np.allclose(a, c)


def test_vision_tower_at_224_px_is_tiny_clips_tower(toy_pipe):
    """The pipeline's embedding (224 px, re-expressed patch kernel) matches tiny-clip's own 64 px embedding."""
    from transformers import CLIPImageProcessorPil, CLIPModel

    from motion4d.guidance.zero123 import clip_pixels_pil
    from motion4d.hub import resolve_pretrained

    folder = resolve_pretrained("tiny-clip")
    clip = CLIPModel.from_pretrained(str(folder)).eval()
    imgs = [_disc_image(c) for c in ((200, 30, 30), (30, 60, 200), (40, 160, 40))]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ref = clip.visual_projection(clip.vision_model(
            pixel_values=clip_pixels_pil(x, CLIPImageProcessorPil.from_pretrained(str(folder)))).pooler_output)
    from PIL import Image

    mine = torch.cat([toy_pipe._encode_image(Image.fromarray(i), "cpu", 1, False)[:, 0] for i in imgs])
    cos = torch.nn.functional.cosine_similarity(mine, ref)
    assert (cos > 0.99).all(), cos
    assert torch.nn.functional.cosine_similarity(mine[0], ref[1], dim=0) < 0.99   # not all the same vector


def test_training_conditioning_is_the_pipelines(toy_pipe, toy_run):
    """One pipeline step on a cached clip's first frame: the UNet sees the cached CLIP embedding, the conditioning
    latent of :func:`condition_latent` (same pixel noise, unscaled mode), the added time ids of
    :func:`added_time_ids`, and zeros for both in the unconditional half."""
    data = torch.load(toy_run / "cache" / f"clips-{TOY['clips']}-8.pt", weights_only=True)
    seen = {}
    forward = toy_pipe.unet.forward

    def spy(sample, timestep, encoder_hidden_states, added_time_ids, return_dict=True):
        seen.setdefault("args", (sample, encoder_hidden_states, added_time_ids))
        return forward(sample, timestep, encoder_hidden_states, added_time_ids, return_dict=return_dict)

    toy_pipe.unet.forward = spy
    try:
        for i in range(2):
            seen.clear()
            first = data["first"][i, 0]                                             # uint8 [3, 64, 64]
            image_to_video(first.permute(1, 2, 0).numpy(), SMALL, seed=5, pipe=toy_pipe)
            sample, emb, ids = seen["args"]
            assert torch.allclose(emb[1, 0], data["emb"][i, 0], atol=1e-5) and not emb[0].any()
            noise = torch.randn((1, 3, 64, 64), generator=torch.Generator().manual_seed(5))
            with torch.no_grad():
                cond = condition_latent(first[None].float() / 255, toy_pipe.vae, torch.tensor([0.02]), noise)
            assert torch.allclose(sample[1, :, 4:], cond.expand(8, -1, -1, -1), atol=1e-4)
            assert not sample[0, :, 4:].any()
            assert torch.allclose(ids, added_time_ids(7, 127, torch.tensor([0.02, 0.02])))
    finally:
        toy_pipe.unet.forward = forward


def test_preconditioning_is_the_schedulers():
    """With the exact training target as the model output, an Euler step from sigma_i lands on z0 + sigma_(i+1) eps
    (one step to sigma 0 recovers z0); the model input and timestep are the scheduler's. An eps-prediction output
    does not recover z0 (the check can fail)."""
    from diffusers import EulerDiscreteScheduler

    sched = EulerDiscreteScheduler.from_config(SCHEDULER)
    gen = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(1, 8, 4, 16, 16, generator=gen), torch.randn(1, 8, 4, 16, 16, generator=gen)
    for n_steps in (1, 5):
        sched.set_timesteps(n_steps)
        x = z0 + sched.sigmas[0] * eps
        for i, t in enumerate(sched.timesteps):
            sigma = sched.sigmas[i].view(1)
            xi, inp, tt, target = noisy_and_target(z0, eps, sigma)
            assert torch.allclose(xi, x, atol=1e-3 * float(sigma))
            assert torch.allclose(sched.scale_model_input(x, t), inp, atol=1e-5)
            assert torch.allclose(tt, t.view(1), atol=1e-6)
            x = sched.step(target, t, x).prev_sample
            assert torch.allclose(x, z0 + sched.sigmas[i + 1] * eps, atol=1e-3)
        assert torch.allclose(x, z0, atol=1e-3)
    sched.set_timesteps(1)
    x = z0 + sched.sigmas[0] * eps
    assert not torch.allclose(sched.step(eps, sched.timesteps[0], x).prev_sample, z0, atol=0.1)
    c_skip, c_out, c_in, _ = edm_scalings(torch.tensor([0.5, 3.0]))
    assert torch.allclose(c_in ** 2, c_skip) and (c_out < 0).all()


def test_pipeline_with_an_oracle_unet_returns_the_clean_latents(toy_pipe):
    """The whole sampler (initial noise scale, CFG ramp, Euler steps) turns the training target into the clip."""
    z0 = torch.randn(1, 8, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    forward = toy_pipe.unet.forward

    def oracle(sample, timestep, encoder_hidden_states, added_time_ids, return_dict=True):
        sigma = torch.exp(4 * torch.as_tensor(timestep, dtype=torch.float32)).view(1)
        x = sample[:, :, :4] / edm_scalings(sigma)[2]
        target = noisy_and_target(z0, (x - z0) / sigma, sigma.expand(len(x)))[3]
        return (target,)

    toy_pipe.unet.forward = oracle
    try:
        out = toy_pipe(__import__("PIL.Image").Image.fromarray(_disc_image()), height=64, width=64, num_frames=8,
                       num_inference_steps=4, output_type="latent", generator=torch.Generator().manual_seed(0)).frames
    finally:
        toy_pipe.unet.forward = forward
    assert torch.allclose(out, z0, atol=1e-3)


def test_condition_dropout_zeros_embedding_and_latent_together():
    cfg = {**defaults, **TOY, "batch": 24}
    torch.manual_seed(0)
    model = build(cfg, "cpu")
    gen = torch.Generator().manual_seed(1)

    class _Vae(torch.nn.Module):                                  # encode -> latent_dist.mode(): a fixed linear map
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def encode(self, x):
            z = torch.nn.functional.avg_pool2d(x, 4)[:, :3]
            z = torch.cat([z, z[:, :1]], 1) + 2.0
            return type("E", (), {"latent_dist": type("D", (), {"mode": lambda s: z})()})()

    data = {"latents": torch.randn(3, 2, 8, 4, 16, 16, generator=gen), "emb": torch.randn(3, 2, 64, generator=gen) + 1,
            "first": torch.randint(0, 255, (3, 2, 3, 64, 64), dtype=torch.uint8, generator=gen), "vae": _Vae()}
    seen = {}
    forward = model.forward

    def spy(sample, timestep, encoder_hidden_states, added_time_ids):
        seen.update(cond=sample[:, :, 4:], emb=encoder_hidden_states, ids=added_time_ids)
        return forward(sample, timestep, encoder_hidden_states, added_time_ids)

    model.forward = spy
    for rate, lo, hi in ((0.5, 4, 20), (0.0, 0, 0), (1.0, 24, 24)):
        loss({**cfg, "cfg_drop": rate}, model, data, torch.Generator().manual_seed(2), "cpu")
        emb_zero = (seen["emb"] == 0).flatten(1).all(1)
        cond_zero = (seen["cond"] == 0).flatten(1).all(1)
        assert torch.equal(emb_zero, cond_zero) and lo <= int(emb_zero.sum()) <= hi
        assert not (seen["cond"][~cond_zero] == 0).any()
        assert (seen["ids"][:, 0] == 6).all() and (seen["ids"][:, 1] == 127).all()
        assert 0 <= float(seen["ids"][:, 2].min()) and float(seen["ids"][:, 2].max()) <= cfg["noise_aug_max"]


def test_keep_and_move_judge():
    from motion4d.zoo.judge import judge_image_to_video

    base = torch.ones(4, 8, 64, 64, 3)
    for i in range(4):
        for f in range(8):
            dx = f * 2 if i in (0, 2) else 0
            base[i, f, 20:36, 10 + dx:26 + dx] = torch.tensor([0.8, 0.1, 0.1])
    inputs = base[:, 0].clone()
    clips = base.clone()
    clips[2][(base[2] < 0.5).any(-1)] = torch.tensor([0.1, 0.1, 0.8])           # clip 2 moves but turns blue
    res = judge_image_to_video(clips, inputs)
    assert res["keep"] == 0.75 and res["move"] == 0.5 and res["keep_and_move"] == 0.25
    empty = judge_image_to_video(torch.ones(1, 8, 64, 64, 3), inputs[:1])
    assert empty["keep"] == 0.0 and empty["present_all"] == 0.0


def test_bad_recipe_and_missing_weights_are_clear(tmp_path):
    with pytest.raises(ValueError, match="multiples of 32"):
        build({**defaults, "channels": "16,32"}, "cpu")
    with pytest.raises(ShippedWeightsError, match="model_index.json.*missing.*motion4d zoo train tiny-svd"):
        check_shipped(KEY, tmp_path)


def test_image_to_4d_auto_drive_uses_an_exported_tiny_svd(toy_run, tmp_path, monkeypatch):
    """drive.model=auto without SVD picks the embedded tiny-svd (here: the toy export standing in for the shipped
    folder), says so in one line, runs it at its 64x64 training size, and the run completes."""
    from PIL import Image

    import motion4d.hub as hub
    from motion4d.pipelines import ImageTo4DPipeline, load_image_to_4d_config

    real, present = hub.builtin_folder, hub.is_present
    monkeypatch.setattr(hub, "builtin_folder", lambda info: toy_run / "model" if info.key == KEY else real(info))
    monkeypatch.setattr(hub, "is_present", lambda key: key != "svd" and present(key))   # as on a machine without SVD
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[10:30, 14:34] = (200, 30, 30, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "box.png")
    cfg = load_image_to_4d_config(str(tmp_path / "box.png"), preset="quick", overrides=[
        "drive.width=128", "drive.height=128", "drive.steps=2", "lift.preset=demo", "lift.novel_view=none",
        "lift.overrides=[static.iters=3, static.num_points=300, dynamic.iters=2, input.size=32, "
        "output.mesh_resolution=12, output.turntable_views=3, output.video_size=32, output.preview_every=0]"])
    lines = []
    ImageTo4DPipeline(cfg, log=lines.append)(tmp_path / "run")
    said = [ln for ln in lines if "tiny-svd" in ln and "not present" in ln]
    assert len(said) == 1 and "64x64" in said[0], lines
    frames = sorted((tmp_path / "run" / "clip" / "rgba").glob("*.png"))
    assert len(frames) == 8 and Image.open(frames[0]).size == (64, 64)
