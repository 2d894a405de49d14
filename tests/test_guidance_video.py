"""Text-to-video SDS on a tiny UNet3D checkpoint, with a motion LoRA loaded from safetensors."""
import pytest
import torch

from _guidance_tiny import one_thread, tiny_video  # noqa: F401
from motion4d.guidance import Condition, GuidanceConfig, build_guidance
from motion4d.guidance.video_sds import apply_lora_safetensors, to_video

pytestmark = pytest.mark.usefixtures("one_thread")

TEMPORAL = (r"(transformer_in|.*\.temp_attentions\.\d+)\.transformer_blocks\.\d+\."
            r"(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2))")


def test_to_video_layouts():
    x = torch.rand(4, 6, 5, 3)
    assert to_video(x).shape == (1, 4, 3, 6, 5)
    assert torch.equal(to_video(x.permute(0, 3, 1, 2)[None]), to_video(x))
    with pytest.raises(ValueError, match="frames"):
        to_video(torch.rand(6, 5, 3))


def test_video_sds_gradients_reach_every_frame_and_low_ram_vae_limits_them():
    cfg = GuidanceConfig(type="video", model=str(tiny_video()), height=8, width=8, seed=0)
    g = build_guidance(cfg)
    assert g.render_spec.frames == 16 and g.render_spec.is_clip
    frames = torch.rand(4, 8, 8, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    loss = g(frames, Condition(prompt="a lower"), step=0)["sds_video"]
    loss.backward()
    per_frame = frames.grad.abs().sum(dim=(1, 2, 3))
    assert torch.isfinite(frames.grad).all() and (per_frame > 0).all()
    low = build_guidance(cfg.with_(video={"low_ram_vae": 2}))
    frames2 = frames.detach().clone().requires_grad_(True)
    low(frames2, Condition(prompt="a lower"), step=0)["sds_video"].backward()
    assert int((frames2.grad.abs().sum(dim=(1, 2, 3)) > 0).sum()) == 2


def test_motion_lora_round_trip_changes_the_video_prior(tmp_path):
    from diffusers import UNet3DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
    from safetensors.torch import save_file

    root = tiny_video()
    trained = UNet3DConditionModel.from_pretrained(str(root), subfolder="unet")
    torch.manual_seed(0)
    inject_adapter_in_model(LoraConfig(r=2, lora_alpha=2, target_modules=TEMPORAL, init_lora_weights=False),
                            trained, adapter_name="temporal")
    state = {"unet." + k: v for k, v in get_peft_model_state_dict(trained, adapter_name="temporal").items()}
    path = tmp_path / "motion_lora.safetensors"
    save_file(state, str(path), metadata={"lora_alpha": "2"})
    plain = UNet3DConditionModel.from_pretrained(str(root), subfolder="unet")
    loaded = UNet3DConditionModel.from_pretrained(str(root), subfolder="unet")
    assert apply_lora_safetensors(loaded, path) == len(state) // 2
    x, ctx = torch.randn(1, 4, 3, 8, 8), torch.randn(1, 5, 8)
    with torch.no_grad():
        ref, got, base = trained(x, 7, ctx).sample, loaded(x, 7, ctx).sample, plain(x, 7, ctx).sample
    assert torch.allclose(got, ref, atol=1e-5) and not torch.allclose(got, base, atol=1e-4)
    # through the guidance config, with a custom loader hook
    calls = []
    g = build_guidance(GuidanceConfig(type="video", model=str(root), height=8, width=8,
                                      video={"lora_path": str(path), "lora_scale": 0.5}))
    g.lora_loader = lambda unet, p, s: calls.append((p, s)) or apply_lora_safetensors(unet, p, s)
    g.load()
    assert calls == [(str(path), 0.5)]
    with pytest.raises(FileNotFoundError, match="motion LoRA"):
        apply_lora_safetensors(plain, tmp_path / "absent.safetensors")


def test_video_stage_lora_checkpoint_loads_through_the_guidance(tmp_path):
    """A LoRA written by the video stage (motion4d-lora format) supervises the guidance's UNet."""
    from diffusers import UNet3DConditionModel

    from motion4d.video.checkpoint import save_adapter
    from motion4d.video.lora import get_lora

    root = tiny_video()
    trained = UNet3DConditionModel.from_pretrained(str(root), subfolder="unet")
    torch.manual_seed(1)
    get_lora(trained).add("temporal", "temporal", rank=2, alpha=2.0, init="random")
    path = save_adapter(trained, "temporal", tmp_path / "temporal.safetensors", base_model=str(root))
    g = build_guidance(GuidanceConfig(type="video", model=str(root), height=8, width=8,
                                      video={"lora_path": str(path)}))
    g.load()
    x, ctx = torch.randn(1, 4, 3, 8, 8), torch.randn(1, 5, 8)
    with torch.no_grad():
        assert torch.allclose(g.unet(x, 7, ctx).sample, trained(x, 7, ctx).sample, atol=1e-5)
    other = build_guidance(GuidanceConfig(type="video", model=str(tiny_video()), height=8, width=8,
                                          video={"lora_path": str(tmp_path / "nope.safetensors")}))
    with pytest.raises(FileNotFoundError, match="nope"):
        other.load()


@pytest.mark.parametrize("amp", [1.0, 3.0])
def test_latent_gradient_is_weighted_cfg_residual_with_motion_amplification(amp):
    """End to end: d loss / d latents == w(t) * amp(eps_cfg - noise) / B for the guidance's own draws."""
    cfg = GuidanceConfig(type="video", model=str(tiny_video()), height=8, width=8, timesteps="anneal",
                         anneal_steps=10, guidance_scale=7.0, video={"motion_amp_scale": amp})
    g = build_guidance(cfg)
    g.load()
    noise = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    g.randn = lambda shape: noise.clone()
    kept = {}
    encode = g.encode_renders

    def keep(frames):
        z = encode(frames)
        z.retain_grad()
        kept["z"] = z
        return z

    g.encode_renders = keep
    cond = Condition(prompt="a lower")
    g(torch.rand(3, 8, 8, 3, requires_grad=True), cond, step=4)["sds_video"].backward()
    z = kept["z"].detach()
    t = torch.tensor([600])                                   # anneal: round((1 - 4/10) * 1000)
    assert g.stats["t"].tolist() == [600]
    noisy = g.scheduler.add_noise(z, noise, t)
    text, uncond = g.prompts([cond.prompt]), g.prompts([""])
    assert torch.allclose(g.encode_condition(cond, 1), torch.cat([uncond, text]))     # CFG order (uncond, cond)
    eps, _, _ = g.guided_noise(noisy, t, torch.cat([uncond, text]), 7.0)
    with torch.no_grad():
        e_c = g.unet(noisy, t, encoder_hidden_states=text).sample
        e_u = g.unet(noisy, t, encoder_hidden_states=uncond).sample
    assert torch.allclose(eps, e_c + 7.0 * (e_c - e_u), atol=1e-5)   # threestudio's "plus" form for ZeroScope
    residual = (1 - g.alphas_cumprod[600]) * (eps - noise)
    mean = residual.mean(dim=2, keepdim=True)
    expected = mean + amp * (residual - mean)
    assert torch.allclose(kept["z"].grad, expected, atol=1e-5)


def test_video_sds_loads_through_the_backbone_with_generations_lora_path(tmp_path):
    """The guidance's model is the video backbone (generation's loader); a train-motion run folder's motion LoRA
    enters it as generation applies it (adapter ``motion``, checked against the base) and changes the prediction;
    a LoRA of another base model, or of the wrong kind, is one clear error."""
    from motion4d.guidance.tiny import build_tiny_t2v
    from motion4d.video.adapters import load_adapter
    from motion4d.video.backbones import UNet3DBackbone, load_backbone
    from motion4d.video.checkpoint import save_adapter
    from motion4d.video.lora import get_lora

    root = tiny_video()
    src = load_backbone(str(root), device="cpu")
    torch.manual_seed(2)
    get_lora(src.unet, src.lora_targets).add("temporal", "temporal", rank=2, alpha=2.0, init="random")
    get_lora(src.unet).add("spatial", "spatial", rank=2, alpha=2.0, init="random")
    run = tmp_path / "run"
    save_adapter(src.unet, "temporal", run / "temporal.safetensors", base_model=src.model_id)
    save_adapter(src.unet, "spatial", run / "spatial.safetensors", base_model=src.model_id)

    cfg = GuidanceConfig(type="video", model=str(root), height=8, width=8, seed=0)
    base, custom = build_guidance(cfg).load(), build_guidance(cfg.with_(video={"lora_path": str(run)})).load()
    assert isinstance(custom.backbone, UNet3DBackbone) and custom.unet is custom.backbone.denoiser
    assert set(get_lora(custom.unet).adapters) == {"motion"}
    gen = load_backbone(str(root), device="cpu")                       # what generate-video samples from
    load_adapter(gen, run, "temporal")
    x, t = torch.randn(2, 4, 3, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([500, 500])
    cond = custom.encode_condition(Condition(prompt="a lower"), 1)
    with torch.no_grad():
        got, plain = custom.predict_noise(x, t, cond), base.predict_noise(x, t, cond)
        want = gen.predict(x, t, gen.encode_prompt(["", "a lower"]))
    assert torch.allclose(got, want, atol=1e-6) and not torch.allclose(got, plain, atol=1e-4)
    both = build_guidance(cfg.with_(video={"lora_path": str(run), "appearance_path": str(run),
                                           "appearance_scale": 0.5})).load()
    assert {n: i.scale for n, i in get_lora(both.unet).adapters.items()} == {"motion": 1.0, "appearance": 0.5}

    with pytest.raises(ValueError, match="is a spatial LoRA; pass it with --appearance"):
        build_guidance(cfg.with_(video={"lora_path": str(run / "spatial.safetensors")})).load()
    other = build_tiny_t2v(tmp_path / "other", seed=1, name_or_path="someone/other-t2v")
    with pytest.raises(ValueError, match="trained on base model .* but the loaded model is 'someone/other-t2v'"):
        build_guidance(cfg.with_(model=str(other), video={"lora_path": str(run)})).load()
