"""Zero123 family: camera vectors, loading from the diffusers layout, SDS, CFG and novel-view sampling."""
import math
import re

import pytest
import torch

from _guidance_tiny import one_thread, tiny_zero123  # noqa: F401
from motion4d.camera import Cameras
from motion4d.guidance import Condition, GuidanceConfig, build_guidance
from motion4d.guidance.zero123 import zero123_camera
from motion4d.hub import ModelNotFoundError, download_command

pytestmark = pytest.mark.usefixtures("one_thread")


def _threestudio_angles(cams: Cameras):
    """threestudio's (elevation, azimuth, radius) of camera centres: z-up world reached by the proper
    rotation (x, y, z)_threestudio = (z, x, y)_motion4d; elevation > 0 above, azimuth counter-clockwise."""
    c = cams.centers.double()
    x, y, z = c[:, 2], c[:, 0], c[:, 1]
    r = c.norm(dim=-1)
    return torch.rad2deg(torch.asin(z / r)), torch.rad2deg(torch.atan2(y, x)), r


def test_zero123_camera_matches_threestudio_convention():
    ref = Cameras.orbit(10.0, 20.0, 2.0)
    tgt = Cameras.orbit([40.0, -15.0, 10.0], [110.0, -60.0, 200.0], [2.5, 1.8, 2.0])
    el_r, az_r, r_r = _threestudio_angles(ref)
    el_t, az_t, r_t = _threestudio_angles(tgt)
    # threestudio zero123-guidance: [d_polar, sin d_az, cos d_az, d_r], polar = 90 - elevation
    d_polar = torch.deg2rad((90 - el_t) - (90 - el_r))
    d_az = torch.deg2rad(az_t - az_r)
    expected = torch.stack([d_polar, torch.sin(d_az), torch.cos(d_az), r_t - r_r], -1).float()
    cond = Condition(cameras=tgt, ref_elevation=10.0, ref_azimuth=20.0, ref_radius=2.0)
    got = zero123_camera(*cond.relative_camera(3), variant="zero123")
    assert torch.allclose(got, expected, atol=1e-4)
    stable = zero123_camera(*cond.relative_camera(3), variant="stable-zero123", ref_elevation=10.0)
    assert torch.allclose(stable[:, :3], expected[:, :3], atol=1e-4)
    assert torch.allclose(stable[:, 3], torch.full((3,), math.radians(80.0)))   # deg2rad(90 - cond_elevation)
    # a camera above the reference has a smaller polar angle: first entry negative
    assert zero123_camera(30.0, 0.0, 0.0)[0, 0] == pytest.approx(-math.radians(30))


@pytest.fixture(scope="module")
def z123():
    return build_guidance(GuidanceConfig(type="zero123", model=str(tiny_zero123()), height=8, width=8,
                                         timesteps="uniform", seed=1))


def _cond():
    g = torch.Generator().manual_seed(5)
    return Condition(image=torch.rand(8, 8, 4, generator=g), elevation=[10.0, 30.0], azimuth=[45.0, 180.0],
                     radius=2.5)


def test_sds_shapes_finite_gradients_and_seed_determinism(z123):
    images = torch.rand(2, 12, 12, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    losses = z123(images, _cond(), step=3)
    assert set(losses) == {"sds"} and losses["sds"].ndim == 0
    losses["sds"].backward()
    assert images.grad.shape == images.shape and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    other = build_guidance(z123.cfg)                        # same seed -> same loss and gradient
    images2 = images.detach().clone().requires_grad_(True)
    l2 = other(images2, _cond(), step=3)["sds"]
    l2.backward()
    assert torch.allclose(losses["sds"], l2) and torch.allclose(images.grad, images2.grad)
    l3 = build_guidance(z123.cfg.with_(seed=2))(images.detach(), _cond(), step=3)["sds"]
    assert not torch.allclose(l3, l2)


def _clip_by_hand(x, size, mean, std):
    """Upstream CLIP input by hand: torchvision's to_pil_image (255 x truncated to uint8), PIL bicubic resize of
    the short side to ``size``, centre crop, /255, CLIP mean/std (square inputs: the crop keeps everything)."""
    import numpy as np
    from PIL import Image

    out = []
    for img in x:
        u8 = (img.permute(1, 2, 0) * 255).to(torch.uint8).numpy()
        a = np.asarray(Image.fromarray(u8).resize((size, size), Image.BICUBIC)).astype(np.float32) / 255
        out.append(torch.from_numpy(((a - np.float32(mean)) / np.float32(std)).transpose(2, 0, 1)))
    return torch.stack(out)


def _hand_conditioning(g, cond, batch, clip="pil", latent="sample"):
    """Zero123's conditioning computed by hand: one cc_projection token of [CLIP image embedding, camera],
    and the reference's unscaled VAE latent (RGBA composited on white): a posterior sample drawn with the
    reference seed (DreamGaussian4D), or the mode (threestudio)."""
    from motion4d.guidance.zero123 import CLIP_MEAN, CLIP_STD, reference_noise_seed

    rgb = cond.image[..., :3] * cond.image[..., 3:] + (1 - cond.image[..., 3:])
    x = g.resize(rgb.permute(2, 0, 1)[None], (8, 8))
    size = g.image_encoder.config.image_size
    with torch.no_grad():
        if clip == "pil":
            clip_in = _clip_by_hand(x, size, CLIP_MEAN, CLIP_STD)
        else:
            clip_in = torch.nn.functional.interpolate(x, size=(size,) * 2, mode="bilinear", align_corners=False,
                                                      antialias=True)
            clip_in = (clip_in - g.clip_mean) / g.clip_std
        emb = g.image_encoder(clip_in).image_embeds[:, None]
        cam = zero123_camera(*cond.relative_camera(batch))
        tokens = g.cc_projection(torch.cat([emb.expand(batch, -1, -1), cam[:, None]], -1))
        post = g.vae.encode(x * 2 - 1).latent_dist
        if latent == "mode":
            lat = post.mode()
        else:
            seed = g.cfg.seed if g.cfg.zero123.reference_seed is None else g.cfg.zero123.reference_seed
            eps = torch.randn(post.mean.shape[1:], generator=torch.Generator().manual_seed(
                reference_noise_seed(seed, x[0])))
            lat = post.mean + post.std * eps
    return tokens, lat.expand(batch, -1, -1, -1)


def test_cfg_batch_is_uncond_then_cond_and_uncond_zeroes_the_image_conditioning(z123):
    cond = _cond()
    tokens2, lat2 = z123.encode_condition(cond, 2)
    tokens, lat = _hand_conditioning(z123, cond, 2)
    assert tokens2.shape == (4, 1, 8) and lat2.shape == (4, 4, 8, 8)
    assert torch.count_nonzero(tokens2[:2]) == 0 and torch.count_nonzero(lat2[:2]) == 0     # uncond half
    assert torch.allclose(tokens2[2:], tokens, atol=1e-5) and torch.allclose(lat2[2:], lat, atol=1e-5)
    noisy = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([300, 300])
    eps, e_u, e_c = z123.guided_noise(noisy, t, (tokens2, lat2), 3.0)
    with torch.no_grad():
        ref_c = z123.unet(torch.cat([noisy, lat], 1), t, encoder_hidden_states=tokens).sample
        ref_u = z123.unet(torch.cat([noisy, torch.zeros_like(lat)], 1), t,
                          encoder_hidden_states=torch.zeros_like(tokens)).sample
    assert torch.allclose(e_c, ref_c, atol=1e-5) and torch.allclose(e_u, ref_u, atol=1e-5)
    assert torch.allclose(eps, ref_u + 3.0 * (ref_c - ref_u), atol=1e-5)
    # another reference image changes only the conditional branch
    other = Condition(image=torch.rand(8, 8, 3, generator=torch.Generator().manual_seed(8)), elevation=[10.0, 30.0],
                      azimuth=[45.0, 180.0], radius=2.5)
    _, e_u2, e_c2 = z123.guided_noise(noisy, t, z123.encode_condition(other, 2), 3.0)
    assert torch.equal(e_u2, e_u) and not torch.allclose(e_c2, e_c, atol=1e-4)


def test_latent_gradient_is_weighted_cfg_residual_by_hand(z123):
    """End to end through the template: d loss / d z == w(t) (eps_u + s (eps_c - eps_u) - eps) / B, with the
    tiny UNet called by hand on the guidance's own noise and timestep."""
    g = build_guidance(z123.cfg.with_(timesteps="anneal", anneal_steps=10, guidance_scale=3.0))
    g.load()
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(9))
    g.randn = lambda shape: noise.clone()
    kept = {}
    encode = g.encode_renders

    def keep(images):
        z = encode(images)
        z.retain_grad()
        kept["z"] = z
        return z

    g.encode_renders = keep
    cond = _cond()
    g(torch.rand(2, 8, 8, 3, requires_grad=True), cond, step=4)["sds"].backward()
    t = torch.tensor([600, 600])                              # anneal: round((1 - 4/10) * 1000)
    assert g.stats["t"].tolist() == [600, 600]
    z = kept["z"].detach()
    noisy = g.scheduler.add_noise(z, noise, t)
    tokens, lat = _hand_conditioning(g, cond, 2)
    with torch.no_grad():
        e_c = g.unet(torch.cat([noisy, lat], 1), t, encoder_hidden_states=tokens).sample
        e_u = g.unet(torch.cat([noisy, torch.zeros_like(lat)], 1), t,
                     encoder_hidden_states=torch.zeros_like(tokens)).sample
    w = 1 - g.alphas_cumprod[600]
    expected = w * (e_u + 3.0 * (e_c - e_u) - noise) / 2
    assert torch.allclose(kept["z"].grad, expected, atol=1e-6)
    swapped = w * (e_c + 3.0 * (e_u - e_c) - noise) / 2        # the (cond, uncond) mix-up would differ
    assert not torch.allclose(kept["z"].grad, swapped, atol=1e-4)


def test_novel_view_sampling_is_deterministic(z123):
    ref = torch.rand(8, 8, 3, generator=torch.Generator().manual_seed(2))
    a = z123.novel_view(ref, [0.0, 20.0], [90.0, 180.0], num_inference_steps=3, seed=4)
    b = z123.novel_view(ref, [0.0, 20.0], [90.0, 180.0], num_inference_steps=3, seed=4)
    assert a.shape == (2, 8, 8, 3) and torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert not torch.equal(a[0], a[1])                    # the camera changes the sample


def test_missing_model_error_names_model_and_download(tmp_path):
    g = build_guidance(GuidanceConfig(type="zero123"))
    cmd = download_command("ashawkey/zero123-xl-diffusers")
    with pytest.raises(ModelNotFoundError, match=r"ashawkey/zero123-xl-diffusers.*\n\s+" + re.escape(cmd)):
        g.load()
    (tmp_path / "unet").mkdir()
    g = build_guidance(GuidanceConfig(type="stable-zero123", model=str(tmp_path)))
    with pytest.raises(ModelNotFoundError, match="clip_camera_projection, image_encoder"):
        g(torch.rand(1, 8, 8, 3), Condition(image=torch.rand(8, 8, 3), elevation=0, azimuth=0, radius=2))


def test_fp16_only_folders_load_their_variant(tmp_path):
    """Repos that ship only ``*.fp16.*`` weights (e.g. the fp16 MVDream/Zero123 ports) load that variant."""
    import shutil

    from motion4d.guidance.loading import weights_variant

    root = tmp_path / "fp16"
    shutil.copytree(tiny_zero123(), root)
    for folder, stem in (("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"),
                         ("image_encoder", "model")):
        (root / folder / f"{stem}.safetensors").rename(root / folder / f"{stem}.fp16.safetensors")
    assert weights_variant(root / "unet", "diffusion_pytorch_model") == "fp16"
    assert weights_variant(tiny_zero123() / "unet", "diffusion_pytorch_model") is None
    g = build_guidance(GuidanceConfig(type="zero123", model=str(root), height=8, width=8))
    loss = g(torch.rand(1, 8, 8, 3), Condition(image=torch.rand(8, 8, 3), elevation=5, azimuth=60, radius=2),
             step=0)["sds"]
    assert torch.isfinite(loss)


def test_refine_is_sdedit_from_strength(z123):
    renders = torch.rand(2, 8, 8, 3, generator=torch.Generator().manual_seed(6))
    cond = _cond()
    same = z123.refine(renders, cond, strength=0.0, num_inference_steps=4)
    with torch.no_grad():
        x = renders.permute(0, 3, 1, 2)
        roundtrip = z123.decode_latents(z123.vae, z123.encode_images(z123.vae, x, sample=False)).permute(0, 2, 3, 1)
    assert torch.allclose(same, roundtrip, atol=1e-5)
    a = z123.refine(renders, cond, strength=0.5, num_inference_steps=4, seed=1)
    b = z123.refine(renders, cond, strength=0.5, num_inference_steps=4, seed=1)
    assert a.shape == (2, 8, 8, 3) and torch.equal(a, b) and not torch.allclose(a, same)
    with pytest.raises(ValueError, match="strength"):
        z123.refine(renders, cond, strength=1.5)


@pytest.mark.parametrize("clip, latent", [("pil", "mode"), ("tensor", "sample"), ("tensor", "mode")])
def test_reference_conditioning_modes_match_hand_computation(z123, clip, latent):
    g = build_guidance(z123.cfg.with_(zero123={"clip_preprocess": clip, "reference_latent": latent}))
    cond = _cond()
    tokens2, lat2 = g.encode_condition(cond, 2)
    tokens, lat = _hand_conditioning(g, cond, 2, clip=clip, latent=latent)
    assert torch.allclose(tokens2[2:], tokens, atol=1e-5) and torch.allclose(lat2[2:], lat, atol=1e-5)


def test_reference_sample_is_seeded_by_content_and_differs_from_the_mode(z123):
    img = torch.rand(3, 8, 8, 3, generator=torch.Generator().manual_seed(11))
    _, lat = z123.embed_reference(img)
    _, one = build_guidance(z123.cfg).embed_reference(img[1])        # same image alone, in a fresh guidance
    torch.testing.assert_close(lat[1:2], one, rtol=0, atol=1e-5)     # batch position does not matter
    _, mode = build_guidance(z123.cfg.with_(zero123={"reference_latent": "mode"})).embed_reference(img)
    assert (lat - mode).abs().max() > 1e-3
    _, other = build_guidance(z123.cfg.with_(zero123={"reference_seed": 99})).embed_reference(img)
    assert (other - lat).abs().max() > 1e-3
    _, again = build_guidance(z123.cfg.with_(seed=5, zero123={"reference_seed": 99})).embed_reference(img)
    assert torch.equal(again, other)                                  # reference_seed, not seed, when given
    with pytest.raises(Exception, match="reference_latent"):
        GuidanceConfig(type="zero123", zero123={"reference_latent": "mean"})


def test_clip_preprocessing_matches_upstream_by_hand():
    """clip_pixels_pil == the hand computation at Zero123's real size (256 -> 224), and the old bilinear
    resize differs from it (figure in docs/guide/guidance.md)."""
    from transformers import CLIPImageProcessorPil

    from motion4d.guidance.zero123 import CLIP_MEAN, CLIP_STD, clip_pixels_pil

    x = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    proc = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224},
                                 image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    got = clip_pixels_pil(x, proc)
    want = _clip_by_hand(x, 224, CLIP_MEAN, CLIP_STD)
    assert got.shape == (2, 3, 224, 224) and torch.equal(got, want)
    old = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    old = (old - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
    assert (old - want).abs().mean() > 1e-3


def test_camera_variant_is_detected_from_the_checkpoint(tmp_path):
    import json
    import shutil

    from motion4d.guidance.zero123 import detect_zero123_variant

    plain = tiny_zero123()
    assert detect_zero123_variant(plain, str(plain)) == (None, "no _name_or_path or model id that names it")
    assert detect_zero123_variant(plain, "ashawkey/stable-zero123-diffusers")[0] == "stable-zero123"
    assert detect_zero123_variant(plain, "zero123-xl")[0] == "zero123"
    stable = tmp_path / "mine"
    shutil.copytree(plain, stable)
    index = json.loads((stable / "model_index.json").read_text())
    (stable / "model_index.json").write_text(json.dumps({**index, "_name_or_path": "/ckpt/stable_zero123_c"}))
    assert detect_zero123_variant(stable, str(stable)) == ("stable-zero123",
                                                           "model_index.json _name_or_path '/ckpt/stable_zero123_c'")
    cam = Condition(image=torch.rand(8, 8, 3), elevation=5, azimuth=60, radius=2)
    with pytest.warns(UserWarning, match=r"looks like stable-zero123 .* but type=zero123; its camera vector "
                                         r"follows type \(zero123\). Set type: stable-zero123"):
        g = build_guidance(GuidanceConfig(type="zero123", model=str(stable), height=8, width=8))
        g(torch.rand(1, 8, 8, 3), cam, step=0)
    assert g.detected_variant == "stable-zero123"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")                                  # agreeing type: no warning
        build_guidance(GuidanceConfig(type="stable-zero123", model=str(stable), height=8, width=8)).load()
