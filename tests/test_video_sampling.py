"""Sampling/inversion on diffusers schedulers == the former hand-written DDIM (formula in this file), scheduler
choice, seeds, generate-video outputs, noise-prior inversion round trip."""
import json

import pytest
import torch

from _video_tiny import write_square_video
from motion4d.video.inversion import ddim_invert
from motion4d.video.sampling import denoise, initial_noise


class Model:
    """A backbone as far as sampling needs it: ``predict`` and ``scheduler_config``."""

    def __init__(self, fn, scheduler_config):
        self.fn, self.scheduler_config = fn, dict(scheduler_config)

    def predict(self, x, t, text):
        return self.fn(x, t, text)


def _old_ddim(config, steps):
    """The former hand-written DDIM's tables: timesteps, step ratio, float64 alphas, final alpha."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(config)
    sched.set_timesteps(steps)
    alphas = sched.alphas_cumprod.double()
    final = 1.0 if sched.config.set_alpha_to_one else float(alphas[0])
    return sched.timesteps.tolist(), sched.config.num_train_timesteps // steps, alphas, final


def _split(kind, out, x, a):
    sa, sb = a ** 0.5, (1 - a) ** 0.5
    if kind == "epsilon":
        return (x - sb * out) / sa, out
    return sa * x - sb * out, sa * out + sb * x  # v_prediction


def old_sample(model, x, cond, uncond, guidance, steps):
    """x_{t-D} = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps, CFG (uncond, cond) - motion4d's former DDIM loop."""
    ts, ratio, alphas, final = _old_ddim(model.scheduler_config, steps)
    kind = model.scheduler_config.get("prediction_type", "epsilon")
    for t in ts:
        if uncond is None:
            out = model.predict(x, t, cond)
        else:
            u, c = model.predict(torch.cat([x, x]), t, torch.cat([uncond, cond])).chunk(2)
            out = u + guidance * (c - u)
        a_t = float(alphas[t])
        a_prev = float(alphas[t - ratio]) if t - ratio >= 0 else final
        x0, eps = _split(kind, out.float(), x.float(), a_t)
        x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return x


def old_invert(model, x, cond, steps):
    """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps with (x0, eps) read at x_{t-D} - the former inversion loop."""
    ts, ratio, alphas, final = _old_ddim(model.scheduler_config, steps)
    kind = model.scheduler_config.get("prediction_type", "epsilon")
    for t in reversed(ts):
        out = model.predict(x, t, cond)
        a_cur = float(alphas[t - ratio]) if t - ratio >= 0 else final
        x0, eps = _split(kind, out.float(), x.float(), a_cur)
        x = float(alphas[t]) ** 0.5 * x0 + (1 - float(alphas[t])) ** 0.5 * eps
    return x


@pytest.mark.parametrize("prediction_type, spacing", [("epsilon", "leading"), ("v_prediction", "trailing")])
def test_scheduler_sampling_and_inversion_equal_the_former_ddim(bb, prediction_type, spacing):
    model = Model(bb.predict, {**bb.scheduler_config, "prediction_type": prediction_type, "steps_offset": 1,
                               "timestep_spacing": spacing})
    z = initial_noise((2, 4, 3, 16, 16), 3)
    cond, uncond = bb.encode_prompt(["lower", "newer"]), bb.encode_prompt(["", ""])
    with torch.no_grad():
        want = old_sample(model, z, cond, uncond, 7.5, 6)
        got = denoise(model, z, cond, uncond, steps=6, guidance=7.5, show_progress=False)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)
        want_inv = old_invert(model, want, cond[:1].expand(2, -1, -1), 6)
        got_inv = ddim_invert(model, want, cond[:1], steps=6, show_progress=False)
        torch.testing.assert_close(got_inv, want_inv, rtol=1e-5, atol=2e-5)
    assert (want - z).abs().max() > 0.1  # the loop did move the latents


def test_scheduler_by_name_and_errors(bb):
    from motion4d.video.schedulers import SCHEDULERS, make_scheduler

    z = initial_noise((1, 4, 2, 16, 16), 0)
    text = bb.encode_prompt("lower")
    outs = {}
    with torch.no_grad():
        for name in ("ddim", "dpm-solver++", "unipc", "euler"):
            outs[name] = denoise(bb, z, text, None, steps=4, guidance=1.0, scheduler=name, show_progress=False)
            assert torch.isfinite(outs[name]).all()
    assert (outs["ddim"] - outs["dpm-solver++"]).abs().max() > 1e-4  # really another solver
    assert type(make_scheduler(bb.scheduler_config, "dpm-solver++")).__name__ == "DPMSolverMultistepScheduler"
    with pytest.raises(ValueError, match="unknown scheduler 'plms'; choose one of: ddim, dpm-solver"):
        denoise(bb, z, text, steps=2, scheduler="plms", show_progress=False)
    with pytest.raises(ValueError, match="does not fit this model's diffusion schedule; choose one of: ddim"):
        make_scheduler(bb.scheduler_config, "flow-match-euler")
    with pytest.raises(ValueError, match="positive integer"):
        denoise(bb, z, text, steps=0, show_progress=False)
    assert set(SCHEDULERS) >= {"ddim", "dpm-solver++", "flow-match-euler"}


@pytest.mark.parametrize("name", ["ddim", "dpm-solver++"])
def test_solvers_converge_to_the_exact_probability_flow_solution(name):
    """For data ~ N(0, s^2 I) and its exact denoiser the probability-flow ODE is linear: x_0 = x_T sqrt(v_0 / v_T)
    with v_t = a_t s^2 + 1 - a_t. DDIM and DPM-Solver++ must converge there as steps grow (measured: relative error
    0.11 / 0.050 / 0.013 at 20 / 50 / 200 DDIM steps, 0.086 / 0.032 / 0.009 for DPM-Solver++)."""
    cfg = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "clip_sample": False,
           "set_alpha_to_one": False, "num_train_timesteps": 1000}
    den = GaussianDenoiser(cfg, 0.5)
    a = den.alphas.double()
    x_t = initial_noise((1, 4, 2, 8, 8), 1)
    v = lambda al: float(al) * 0.25 + 1 - float(al)  # noqa: E731
    errors = []
    for steps in (20, 50, 200):
        out = denoise(Model(den.predict, cfg), x_t, torch.zeros(1, 1, 1), steps=steps, guidance=1.0, scheduler=name,
                      show_progress=False)
        # DDIM starts at its first "leading" timestep and ends at alphas[0]; DPM-Solver++ runs 999 -> sigma 0
        t_first, a_end = (999, 1.0) if name == "dpm-solver++" else ((steps - 1) * (1000 // steps), float(a[0]))
        want = x_t * (v(a_end) / v(a[t_first])) ** 0.5
        errors.append(float((out - want).norm() / want.norm()))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.015 and errors[1] < 0.6 * errors[0], errors


def test_training_noise_matches_the_former_formula_and_flow_matching():
    from diffusers import DDIMScheduler

    from motion4d.video.schedulers import make_scheduler, noisy_and_target, prediction_type

    cfg = dict(DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012).config)
    g = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(2, 4, 3, 5, 5, generator=g), torch.randn(2, 4, 3, 5, 5, generator=g)
    for kind in ("epsilon", "v_prediction", "sample"):
        sched = make_scheduler({**cfg, "prediction_type": kind})
        a = float(sched.alphas_cumprod.double()[321])
        zt, target = noisy_and_target(sched, z0, eps, 321)
        torch.testing.assert_close(zt, a ** 0.5 * z0 + (1 - a) ** 0.5 * eps, rtol=1e-5, atol=1e-6)
        want = {"epsilon": eps, "v_prediction": a ** 0.5 * eps - (1 - a) ** 0.5 * z0, "sample": z0}[kind]
        torch.testing.assert_close(target, want, rtol=1e-5, atol=1e-6)
    flow_cfg = {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}
    flow = make_scheduler(flow_cfg, "flow-match-euler")
    assert prediction_type(flow_cfg) == "flow"
    flow.set_timesteps(10)
    t = flow.timesteps[3]
    zt, target = noisy_and_target(flow, z0[:1], eps[:1], t)
    torch.testing.assert_close(zt, flow.scale_noise(z0[:1], t[None], eps[:1]), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(target, eps[:1] - z0[:1])
    with pytest.raises(ValueError, match="does not fit this model's flow schedule; choose one of: flow-match-euler"):
        make_scheduler(flow_cfg, "ddim")


def test_same_seed_same_video_and_outputs(bb, tmp_path):
    from motion4d.utils.media import read_video
    from motion4d.video.generate import generate_video

    kw = dict(backbone=bb, num_frames=4, width=32, height=32, steps=2, guidance=6.0, show_progress=False)
    a = generate_video("lower newer", tmp_path / "a", seed=7, **kw)
    b = generate_video("lower newer", tmp_path / "b", seed=7, **kw)
    c = generate_video("lower newer", tmp_path / "c", seed=8, **kw)
    assert torch.equal(a.frames, b.frames)
    assert (a.frames - c.frames).abs().max() > 1e-3
    assert a.frames.shape == (4, 32, 32, 3)
    video = read_video(a.paths["mp4"])
    assert video.frames.shape == (4, 32, 32, 3) and video.fps == 8.0
    assert a.paths["gif"].is_file() and sorted(p.name for p in a.paths["frames"].iterdir()) == \
        ["000.png", "001.png", "002.png", "003.png"]
    settings = json.loads(a.paths["settings"].read_text())
    assert settings["seed"] == 7 and settings["model"] == "motion4d-tests/tiny-t2v" and settings["steps"] == 2
    assert not list(tmp_path.glob("a/.*partial*"))  # no temporaries left behind
    d = generate_video("lower newer", tmp_path / "d", **kw)  # random seed is recorded and reproduces the video
    e = generate_video("lower newer", tmp_path / "e", seed=d.seed, **kw)
    assert torch.equal(d.frames, e.frames)


class GaussianDenoiser(torch.nn.Module):
    """The exact epsilon-predictor for data ~ N(0, s^2 I): eps(x, t) = sqrt(1 - a) x / (a s^2 + 1 - a)."""

    def __init__(self, scheduler_config, s):
        super().__init__()
        from diffusers import DDIMScheduler

        self.alphas = DDIMScheduler.from_config(scheduler_config).alphas_cumprod
        self.s = s

    def predict(self, x, t, text=None):
        a = float(self.alphas[int(t)])
        return (1 - a) ** 0.5 * x / (a * self.s ** 2 + 1 - a)

    def forward(self, x, t, encoder_hidden_states=None):
        return self.predict(x, t)


def test_noise_prior_inversion_round_trip(bb, tmp_path):
    from motion4d.video.generate import reference_latents
    from motion4d.video.inversion import mix_noise_prior

    video = write_square_video(tmp_path / "ref.mp4", num_frames=4)
    z0 = reference_latents(bb, video, num_frames=4, width=32, height=32)
    assert z0.shape == (1, 4, 4, 16, 16)
    empty = bb.encode_prompt("")
    eps = initial_noise(z0.shape, 0)

    def errors(model, clip, steps):
        z_inv = ddim_invert(model, clip, empty, steps=steps, show_progress=False)
        out = {}
        for p in (1.0, 0.5, 0.0):
            rec = denoise(model, mix_noise_prior(z_inv, eps, p), empty, None, steps=steps, guidance=1.0,
                          show_progress=False)
            out[p] = float((rec - clip).norm() / clip.norm())
        return out

    # with a model that is an exact denoiser (Gaussian data of unit variance, like scaled SD latents), inversion
    # then p = 1 sampling reconstructs the clip
    exact = errors(Model(GaussianDenoiser(bb.scheduler_config, 1.0).predict, bb.scheduler_config), z0 / z0.std(),
                   steps=20)
    assert exact[1.0] < 0.02 and exact[0.0] > 0.5, exact
    # the tiny random UNet is no denoiser, but the prior still pulls the sample towards the clip as p grows
    tiny = errors(bb, z0, steps=10)
    assert tiny[1.0] < tiny[0.5] < tiny[0.0], tiny
    torch.testing.assert_close(mix_noise_prior(z0, eps, 0.0), eps)
    with pytest.raises(ValueError, match="frames"):
        mix_noise_prior(z0, initial_noise((1, 4, 6, 16, 16), 0), 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        mix_noise_prior(z0, eps, 1.5)
