"""MVDream: checkpoint key layout, camera convention, multi-view attention and SDS on a tiny model."""
import math

import numpy as np
import pytest
import torch

from _guidance_tiny import MV_TINY, one_thread, tiny_mvdream  # noqa: F401
from motion4d.camera import Cameras
from motion4d.guidance import Condition, GuidanceConfig, build_guidance
from motion4d.guidance.mv_unet import MultiViewUNetModel
from motion4d.guidance.mvdream import mvdream_camera

pytestmark = pytest.mark.usefixtures("one_thread")


def test_state_dict_keys_are_the_ldm_sd21_layout_plus_camera_embed():
    """The checkpoint's keys are LDM ``openaimodel`` names; diffusers' own LDM->diffusers converter must
    map ours onto exactly the SD 2.1-base UNet (names and shapes), leaving only ``camera_embed``."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    with torch.device("meta"):
        mv = MultiViewUNetModel()                                  # the checkpoint's config (defaults)
        sd = UNet2DConditionModel(block_out_channels=(320, 640, 1280, 1280), attention_head_dim=[5, 10, 20, 20],
                                  cross_attention_dim=1024, use_linear_projection=True, layers_per_block=2,
                                  sample_size=32)
    state = mv.state_dict()
    cam = {k: tuple(v.shape) for k, v in state.items() if k.startswith("camera_embed")}
    assert cam == {"camera_embed.0.weight": (1280, 16), "camera_embed.0.bias": (1280,),
                   "camera_embed.2.weight": (1280, 1280), "camera_embed.2.bias": (1280,)}
    for key in ("time_embed.0.weight", "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight",
                "input_blocks.3.0.op.weight", "middle_block.1.proj_in.weight", "output_blocks.2.1.conv.weight",
                "output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight", "out.2.weight"):
        assert key in state, key
    ldm = {"model.diffusion_model." + k: v for k, v in state.items() if not k.startswith("camera_embed")}
    converted = convert_ldm_unet_checkpoint(ldm, dict(sd.config))
    ref = sd.state_dict()
    assert set(converted) == set(ref)
    assert all(tuple(converted[k].shape) == tuple(ref[k].shape) for k in ref)


def _mvdream_reference(elevation, azimuth):
    """MVDream's camera_utils.get_camera for one view (numpy, as in bytedance/MVDream)."""
    el, az = np.radians(elevation), np.radians(azimuth)
    pos = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    forward = -pos / np.linalg.norm(pos)
    right = np.cross(forward, [0, 1, 0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([right, up, -forward]).T
    c2w[:3, 3] = pos
    flip_yz = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    m = flip_yz @ c2w
    m[:3, 3] /= np.linalg.norm(m[:3, 3])
    return m.reshape(16)


def test_camera_vectors_match_mvdream_get_camera():
    el = [15.0, 15.0, 15.0, 15.0, 40.0]
    az = [0.0, 90.0, 180.0, 270.0, 33.0]
    cams = Cameras.orbit(el, az, radius=2.5, width=8)
    got = mvdream_camera(cams.c2w)
    expected = torch.tensor(np.stack([_mvdream_reference(e, a) for e, a in zip(el, az)]), dtype=torch.float32)
    assert torch.allclose(got, expected, atol=1e-5)
    # the camera position is unit length and z-up (Blender): elevation 40 -> z = sin(40 deg)
    assert got[4, 11] == pytest.approx(math.sin(math.radians(40)), abs=1e-5)


def test_self_attention_spans_the_views_of_a_sample():
    torch.manual_seed(0)
    unet = MultiViewUNetModel(**MV_TINY).eval()
    for p in unet.parameters():                                     # make the residual branches non-trivial
        p.data.add_(torch.randn_like(p) * 0.05)
    x = torch.randn(4, 4, 8, 8)
    ctx, cam, t = torch.randn(4, 5, 8), torch.randn(4, 16), torch.tensor([10] * 4)
    y = unet(x, t, ctx, cam, num_frames=4)
    x2 = x.clone()
    x2[3] += 1.0
    with torch.no_grad():
        y_mv = unet(x2, t, ctx, cam, num_frames=4)
        y_single = unet(x2, t, ctx, cam, num_frames=1)
        y_ref1 = unet(x, t, ctx, cam, num_frames=1)
    assert y.shape == (4, 4, 8, 8)
    assert not torch.allclose(y_mv[0], y[0], atol=1e-6)            # view 0 sees view 3
    assert torch.allclose(y_single[0], y_ref1[0], atol=1e-5)       # not when views are independent


def test_mvdream_sds_loads_from_layout_and_is_seeded():
    cfg = GuidanceConfig(type="mvdream", model=str(tiny_mvdream()), height=8, width=8, seed=7)
    cond = Condition(prompt="a lower", elevation=15.0, azimuth=[0.0, 90.0, 180.0, 270.0], radius=2.5)
    images = torch.rand(4, 8, 8, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    g = build_guidance(cfg)
    loss = g(images, cond, step=0)["sds"]
    loss.backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    again = build_guidance(cfg)(images.detach(), cond, step=0)["sds"]
    assert torch.allclose(loss, again)
    plain = build_guidance(cfg.with_(mvdream={"recon_loss": False}))
    assert torch.isfinite(plain(images.detach(), cond, step=0)["sds"])
    with pytest.raises(ValueError, match="groups of 4"):
        g(torch.rand(3, 8, 8, 3), cond, step=0)


def test_x0_reconstruction_gradient_with_std_rescale_by_hand():
    cfg = GuidanceConfig(type="mvdream", model=str(tiny_mvdream()), height=8, width=8, timesteps="anneal",
                         anneal_steps=10, guidance_scale=5.0)
    g = build_guidance(cfg)
    g.load()
    noise = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    g.randn = lambda shape: noise.clone()
    kept = {}
    encode = g.encode_images

    def keep(vae, x, sample=True):
        z = encode(vae, x, sample)
        z.retain_grad()
        kept["z"] = z
        return z

    g.encode_images = keep
    cond = Condition(prompt="a lower", elevation=15.0, azimuth=[0.0, 90.0, 180.0, 270.0], radius=2.5)
    g(torch.rand(4, 8, 8, 3, requires_grad=True), cond, step=3)["sds"].backward()
    z, t = kept["z"].detach(), torch.full((4,), 700)
    noisy = g.scheduler.add_noise(z, noise, t)
    cam = mvdream_camera(Cameras.orbit(15.0, [0.0, 90.0, 180.0, 270.0], 2.5, width=8).c2w)
    text, unc = g.prompts(["a lower"]), g.prompts([""])
    with torch.no_grad():
        e_c = g.unet(noisy, t, text.expand(4, -1, -1), cam, num_frames=4)
        e_u = g.unet(noisy, t, unc.expand(4, -1, -1), cam, num_frames=4)
    a = g.alphas_cumprod[700]
    x0 = (noisy - (1 - a).sqrt() * (e_u + 5.0 * (e_c - e_u))) / a.sqrt()
    x0_text = (noisy - (1 - a).sqrt() * e_c) / a.sqrt()
    x0 = 0.5 * x0 * (x0_text.std() / x0.std()) + 0.5 * x0          # MVDream-threestudio, std over the 4 views
    assert torch.allclose(kept["z"].grad, (z - x0) / 4, atol=1e-4)
