"""tiny-zero123 (motion4d.zoo.zero123): the exported folder is what the Zero123 guidance loads, the training
conditioning (CLIP embedding, reference latent, camera vector, token) is the guidance's, condition dropout,
view pairs and the mirroring augmentation."""
from __future__ import annotations

import pytest
import torch

from motion4d.guidance import Condition, GuidanceConfig, build_guidance, predicted_eps
from motion4d.zoo import ShippedWeightsError, check_shipped, task_module, train
from motion4d.zoo.data import PairSpec, render_pairs, to_rgb
from motion4d.zoo.zero123 import (KEY, SCHEDULER, Zero123Net, build, defaults, load_guidance, loss,
                                  noisy_and_target)

TOY = {"steps": 2, "scenes": 2, "targets": 2, "batch": 4, "channels": "8,16,16", "heads": 2, "warmup": 1,
       "ckpt_every": 2, "log_every": 1}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A 2-step tiny-zero123 run on 2 scenes x 2 target views (toy UNet), on the shipped tiny-vae and tiny-clip."""
    out = tmp_path_factory.mktemp("zero123") / "run"
    train(task_module(KEY), out, TOY, show_progress=False, threads=None)
    return out


def test_exported_folder_runs_one_sds_step_in_the_zero123_guidance(toy_run):
    folder = check_shipped(KEY, toy_run / "model")
    g = load_guidance(folder)
    assert g.unet.config.in_channels == 8 and g.vae.config.latent_channels == 4
    assert g.prediction_type == "v_prediction" and g.detected_variant == "zero123"
    gen = torch.Generator().manual_seed(0)
    renders = torch.rand(2, 64, 64, 3, generator=gen).requires_grad_()
    cond = Condition(image=torch.rand(64, 64, 3, generator=gen), elevation=[0.0, 15.0], azimuth=[90.0, -120.0],
                     radius=2.5, ref_radius=2.5)
    sds = g(renders, cond, step=0)["sds"]
    sds.backward()
    assert torch.isfinite(sds) and float(renders.grad.abs().sum()) > 0
    views = g.novel_view(cond.image, 0.0, [90.0, 270.0], num_inference_steps=2, seed=0)
    assert views.shape == (2, 64, 64, 3) and not torch.equal(views[0], views[1])


def test_training_conditioning_is_the_guidance_conditioning(toy_run):
    """For every cached pair, plain and mirrored: the CLIP embedding, the unscaled reference latent, the target
    latent, the camera vector and the camera token equal what the guidance computes for that reference image and
    camera pair (as the lift builds its Condition: absolute render cameras, reference camera at azimuth 0)."""
    from motion4d.guidance.zero123 import zero123_camera

    data = torch.load(toy_run / "cache" / "pairs-2-2.pt", weights_only=True)
    rgba, metas = render_pairs("train", 2, PairSpec(targets=2), cache_dir=toy_run / "cache", show_progress=False)
    rgb = to_rgb(rgba)
    g = build_guidance(GuidanceConfig(type="zero123", model=str(toy_run / "model"), height=64, width=64,
                                      zero123={"reference_latent": "mode"})).load()
    net = Zero123Net(g.unet, g.cc_projection)
    k = 2
    for i, m in enumerate(metas):
        for mir in (0, 1):
            x = rgb[i].flip(-1) if mir else rgb[i]
            emb, lat = g.embed_reference(x[0])
            assert torch.allclose(emb[0, 0], data["emb"][i, mir], atol=1e-5)
            assert torch.allclose(lat[0], data["ref_mean"][i, mir], atol=1e-4)          # not scaled
            target = g.encode_images(g.vae, x[1:], sample=False)                       # scaled, as SDS noises it
            assert torch.allclose(target, data["target"][i, mir], atol=1e-4)
            (ref_el, _), views = m["views"][0], m["views"][1:]
            az = [-a if mir else a for _, a in views]
            az = [(a + 180.0) % 360.0 - 180.0 for a in az]                              # the lift's range
            cond = Condition(image=x[0], elevation=[e for e, _ in views], azimuth=az, radius=m["radius"],
                             ref_elevation=ref_el, ref_azimuth=0.0, ref_radius=m["radius"])
            cam = zero123_camera(*cond.relative_camera(k), "zero123")
            assert torch.allclose(cam, data["cam"][i, mir], atol=1e-6)
            tokens, _ = g.encode_condition(cond, k)
            with torch.no_grad():
                mine = net.tokens(data["emb"][i, mir].expand(k, -1), data["cam"][i, mir])
            assert torch.allclose(tokens[k:], mine, atol=1e-5)
    assert not torch.allclose(data["cam"][:, 0, :, 1], data["cam"][:, 1, :, 1])        # mirroring flips sin(d_az)


def test_condition_dropout_zeros_token_and_reference_latent_together():
    cfg = {**defaults, "channels": "8,16,16", "heads": 2, "batch": 64, "cfg_drop": 0.5}
    torch.manual_seed(0)
    model = build(cfg, "cpu")
    dim = model.cc_projection.config.embedding_dim
    gen = torch.Generator().manual_seed(1)
    data = {"emb": torch.randn(3, 2, dim, generator=gen), "cam": torch.randn(3, 2, 2, 4, generator=gen),
            "ref_mean": torch.randn(3, 2, 4, 16, 16, generator=gen) + 2.0,
            "ref_std": torch.full((3, 2, 4, 16, 16), 0.01), "target": torch.randn(3, 2, 2, 4, 16, 16, generator=gen)}
    seen = {}
    forward = model.forward

    def spy(noisy, ref, t, tokens):
        seen.update(ref=ref, tokens=tokens)
        return forward(noisy, ref, t, tokens)

    model.forward = spy
    for drop_rate, lo, hi in ((0.5, 16, 48), (0.0, 0, 0), (1.0, 64, 64)):
        loss({**cfg, "cfg_drop": drop_rate}, model, data, torch.Generator().manual_seed(2), "cpu")
        tok_zero = (seen["tokens"] == 0).flatten(1).all(1)
        ref_zero = (seen["ref"] == 0).flatten(1).all(1)
        assert torch.equal(tok_zero, ref_zero) and lo <= int(tok_zero.sum()) <= hi
        assert not (seen["ref"][~ref_zero] == 0).any()


def test_training_target_is_what_the_guidance_turns_back_into_noise():
    """v-prediction: x_t is the scheduler's add_noise, and the guidance's conversion of the exact v target (with the
    exported scheduler's prediction_type) gives back the noise."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(SCHEDULER)
    gen = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(3, 4, 16, 16, generator=gen), torch.randn(3, 4, 16, 16, generator=gen)
    t = torch.tensor([10, 500, 990])
    xt, v = noisy_and_target(z0, eps, sched.alphas_cumprod[t])
    assert torch.allclose(xt, sched.add_noise(z0, eps, t), atol=1e-5)
    assert torch.allclose(predicted_eps(v, xt, t, sched.alphas_cumprod, sched.config.prediction_type), eps, atol=1e-4)
    assert not torch.allclose(predicted_eps(v, xt, t, sched.alphas_cumprod, "epsilon"), eps, atol=1e-2)


def test_view_pairs_share_time_and_cameras():
    """A target at the reference camera renders the reference image; random targets use the spec's angles."""
    spec = PairSpec(size=32, views=((0.0, 0.0), (0.0, 90.0)), num_points=200)
    rgba, meta = render_pairs("dev", 2, spec, show_progress=False)
    assert rgba.shape == (2, 3, 32, 32, 4) and meta[0]["views"] == [[0.0, 0.0], [0.0, 0.0], [0.0, 90.0]]
    assert (rgba[:, 0] == rgba[:, 1]).all() and not (rgba[:, 0] == rgba[:, 2]).all()
    rand = PairSpec(size=32, targets=5, num_points=200)
    _, meta = render_pairs("dev", 3, rand, show_progress=False)
    angles = [v for m in meta for v in m["views"][1:]]
    assert all(e in rand.elevations and a % 15 == 0 and 0 <= a < 360 for e, a in angles)
    assert meta == render_pairs("dev", 3, rand, show_progress=False)[1]
    with pytest.raises(ValueError, match="azimuth_step"):
        PairSpec(azimuth_step=7.0)


def test_mirrored_render_is_the_render_at_the_negated_azimuth():
    """The mirroring augmentation: flipping a render left-right equals rendering the x-mirrored scene from the
    negated azimuth (isotropic Gaussians, view-independent colour), so a flipped pair has d_azimuth negated."""
    from motion4d.camera import Cameras
    from motion4d.world import make_scene
    from motion4d.world.dataset import render_rgba

    scene = make_scene(3, num_objects=1, size=32, num_points=400)
    gs = scene.gaussians_at(0.4)
    mirrored = gs.replace(means=gs.means * torch.tensor([-1.0, 1.0, 1.0]))
    el, az = torch.tensor([0.0, 15.0, -15.0]), torch.tensor([0.0, 60.0, 250.0])
    a = render_rgba(gs, Cameras.orbit(el, az, 2.5, 49.1, 32), scene.background)
    b = render_rgba(mirrored, Cameras.orbit(el, -az, 2.5, 49.1, 32), scene.background)
    diff = abs(a[:, :, ::-1].astype(int) - b.astype(int))
    assert diff.max() <= 2
    assert abs(a.astype(int) - b.astype(int)).max() > 20                       # the scene is not symmetric


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(ShippedWeightsError, match="model_index.json.*missing.*motion4d zoo train tiny-zero123"):
        check_shipped(KEY, tmp_path)
