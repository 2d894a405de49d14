"""Stable Diffusion SDS and VSD on a tiny checkpoint in the StableDiffusionPipeline layout."""
import pytest
import torch

from _guidance_tiny import one_thread, tiny_sd  # noqa: F401
from motion4d.camera import Cameras
from motion4d.guidance import Condition, GuidanceConfig, build_guidance
from motion4d.guidance.prompts import view_suffix

pytestmark = pytest.mark.usefixtures("one_thread")


def _cond():
    return Condition(prompt="a lower tower", cameras=Cameras.orbit([10.0, 20.0], [0.0, 180.0], 2.5, width=8))


def test_view_dependent_prompt_uses_motion4d_azimuth():
    assert view_suffix(0, 10) == ", front view" and view_suffix(0, 180) == ", back view"
    assert view_suffix(0, -90) == ", side view" and view_suffix(75, 0) == ", overhead view"


def test_sds_cfg_matches_hand_computation_and_grads_reach_images():
    g = build_guidance(GuidanceConfig(type="sd", model=str(tiny_sd()), height=8, width=8, guidance_scale=20.0))
    images = torch.rand(2, 8, 8, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    loss = g(images, _cond(), step=0)["sds"]
    loss.backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    cond = g.encode_condition(_cond(), 2)                  # CFG batch: 2 negative rows, then 2 prompt rows
    uncond, text = cond[:2], cond[2:]
    assert not torch.allclose(text[0], text[1])            # front view vs back view prompts
    assert torch.allclose(uncond, g.prompts(["", ""])) and torch.allclose(text[1], g.prompts(["a lower tower, back view"])[0])
    noisy, t = torch.randn(2, 4, 8, 8), torch.tensor([500, 500])
    with torch.no_grad():
        e_c = g.unet(noisy, t, encoder_hidden_states=text).sample
        e_u = g.unet(noisy, t, encoder_hidden_states=uncond).sample
    got, _, _ = g.guided_noise(noisy, t, cond, 20.0, "plus")
    assert torch.allclose(got, e_c + 20.0 * (e_c - e_u), atol=1e-5)


def test_vsd_trains_lora_and_camera_embedding_only():
    g = build_guidance(GuidanceConfig(type="vsd", model=str(tiny_sd()), height=8, width=8, seed=3))
    g.load()
    base = {n: p.detach().clone() for n, p in g.unet.named_parameters() if "lora_" not in n}
    lora = {n: p.detach().clone() for n, p in g.unet.named_parameters() if "lora_B" in n}
    cam = [p.detach().clone() for p in g.camera_embed.parameters()]
    assert lora and all(torch.count_nonzero(v) == 0 for v in lora.values())   # starts as the base model
    images = torch.rand(2, 8, 8, 3, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    out = g(images, _cond(), step=0)
    out["vsd"].backward()
    assert set(out) == {"vsd"} and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert isinstance(g.stats["lora"], float)
    assert all(torch.equal(p, base[n]) for n, p in g.unet.named_parameters() if n in base)
    assert any(not torch.equal(p, lora[n]) for n, p in g.unet.named_parameters() if n in lora)
    assert any(not torch.equal(a, b) for a, b in zip(g.camera_embed.parameters(), cam))
    assert g.unet.class_embedding is None                   # pretrained path has no camera embedding
    # explicit alternation: an update on given latents changes the LoRA again
    before = {n: p.detach().clone() for n, p in g.unet.named_parameters() if "lora_B" in n}
    g.update_vsd(torch.randn(2, 4, 8, 8), _cond())
    assert any(not torch.equal(p, before[n]) for n, p in g.unet.named_parameters() if n in before)


def test_vsd_trainable_state_round_trip():
    cfg = GuidanceConfig(type="vsd", model=str(tiny_sd()), height=8, width=8, seed=4)
    a = build_guidance(cfg)
    a(torch.rand(1, 8, 8, 3), _cond_one(), step=0)
    state = a.trainable_state_dict()
    assert state and all(k.startswith(("unet.", "camera_embed.", "optimizer.")) for k in state)
    assert any(k.endswith(".exp_avg_sq") for k in state)    # the LoRA optimizer's moments travel too
    b = build_guidance(cfg.with_(seed=5))
    b.load_trainable_state_dict(state)
    assert all(torch.equal(v, b.trainable_state_dict()[k]) for k, v in state.items())
    assert build_guidance(GuidanceConfig(type="sd", model=str(tiny_sd()))).trainable_state_dict() == {}


def test_vsd_resume_from_trainable_state_is_exact():
    """Two steps, save, a third step; a fresh guidance restored from the saved state (generator reseeded as the
    trainer does) makes the same third step bit for bit: loss, render gradient and LoRA update."""
    cfg = GuidanceConfig(type="vsd", model=str(tiny_sd()), height=8, width=8, seed=4)
    images = torch.rand(2, 1, 8, 8, 3, generator=torch.Generator().manual_seed(2))

    def step(g, i):
        g.generator.manual_seed(100 + i)
        x = images[i % 2].clone().requires_grad_(True)
        loss = g(x, _cond_one(), step=i)["vsd"]
        loss.backward()
        return loss.detach(), x.grad

    a = build_guidance(cfg)
    for i in range(2):
        step(a, i)
    saved = a.trainable_state_dict()
    loss_a, grad_a = step(a, 2)
    b = build_guidance(cfg.with_(seed=9))
    b.load_trainable_state_dict(saved)
    loss_b, grad_b = step(b, 2)
    assert torch.equal(loss_a, loss_b) and torch.equal(grad_a, grad_b)
    after_a, after_b = a.trainable_state_dict(), b.trainable_state_dict()
    assert all(torch.equal(after_a[k], after_b[k]) for k in after_a)
    c = build_guidance(cfg)                                 # without the optimizer state the update differs
    c.load_trainable_state_dict({k: v for k, v in saved.items() if not k.startswith("optimizer.")})
    step(c, 2)
    assert any(not torch.equal(after_a[k], v) for k, v in c.trainable_state_dict().items() if k.startswith("unet."))


def _cond_one():
    return Condition(prompt="a lower", elevation=0.0, azimuth=30.0, radius=2.5)


def test_vsd_with_a_separate_v_prediction_lora_model(tmp_path):
    """4D-fy's layout: LoRA on a separate (v-prediction) checkpoint; the pretrained UNet stays adapter-free."""
    import json
    import shutil

    lora_root = tmp_path / "sd21"
    shutil.copytree(tiny_sd(), lora_root)
    sched = lora_root / "scheduler" / "scheduler_config.json"
    sched.write_text(json.dumps({**json.loads(sched.read_text()), "prediction_type": "v_prediction"}))
    g = build_guidance(GuidanceConfig(type="vsd", model=str(tiny_sd()), height=8, width=8,
                                      vsd={"lora_model": str(lora_root)}))
    images = torch.rand(1, 8, 8, 3, requires_grad=True)
    g(images, _cond_one(), step=0)["vsd"].backward()
    assert g.lora_unet is not g.unet and g.lora_prediction_type == "v_prediction"
    assert not any("lora_" in n for n, _ in g.unet.named_parameters())
    assert any("lora_" in n for n, _ in g.lora_unet.named_parameters())
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
