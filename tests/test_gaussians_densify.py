"""Densification: clone / split / prune counts, optimizer state following the Gaussians, opacity reset."""
import math
from types import SimpleNamespace

import pytest
import torch

from motion4d.camera import Cameras
from motion4d.gaussians import GaussianModel
from motion4d.gaussians.densify import DensifyStrategy
from motion4d.render import render


def _model():
    # 6 Gaussians: 0,1 small + high grad (clone); 2,3 large + high grad (split); 4 transparent (prune);
    # 5 small, low grad (kept as is).
    means = torch.arange(18, dtype=torch.float32).reshape(6, 3) * 0.01
    scales = torch.tensor([0.005, 0.005, 0.05, 0.05, 0.005, 0.005])
    opac = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.001, 0.5])
    model = GaussianModel(means, torch.log(scales)[:, None].repeat(1, 3), torch.tensor([[1.0, 0, 0, 0]]).repeat(6, 1),
                          torch.logit(opac), torch.arange(18, dtype=torch.float32).reshape(6, 1, 3), sh_degree=1)
    return model


def _fake_output(grad_px, radii_px=3, size=100, cameras=1):
    n = grad_px.shape[0]
    m2d = torch.zeros(cameras, n, 2, requires_grad=True)
    m2d.grad = torch.stack([grad_px, torch.zeros_like(grad_px)], -1).expand(cameras, n, 2).clone()
    return SimpleNamespace(means2d=m2d, rgb=torch.zeros(cameras, size, size, 3),
                           radii=torch.full((cameras, n, 2), radii_px, dtype=torch.int32))


def _adam_with_state(model):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    saved = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()  # creates the state; then undo the update so parameter values stay recognisable
    with torch.no_grad():
        for p, v in zip(model.parameters(), saved):
            p.copy_(v)
            p.grad = None
    # Give every row a recognisable first moment: row i of every parameter holds i + 1.
    for p in model.parameters():
        st = opt.state[p]
        rows = torch.arange(1, p.shape[0] + 1, dtype=p.dtype).reshape(-1, *([1] * (p.ndim - 1)))
        st["exp_avg"] = rows.expand_as(p).clone()
    return opt


def test_clone_split_prune_counts_and_optimizer_rows():
    torch.manual_seed(0)
    model = _model()
    opt = _adam_with_state(model)
    strat = DensifyStrategy(grad_threshold=1e-3, percent_dense=0.01, scene_extent=1.0, refine_start=0,
                            refine_every=10, reset_every=1000, min_opacity=0.005)
    state = strat.init_state(model)
    # pixel gradients; NDC scaling multiplies by width/2 = 50
    grad = torch.tensor([1e-4, 1e-4, 1e-4, 1e-4, 0.0, 1e-6])
    strat.step_post_backward(model, opt, state, 5, _fake_output(grad))  # stats only
    assert len(model) == 6 and state["count"].tolist() == [1.0] * 6
    strat.step_post_backward(model, opt, state, 10, _fake_output(grad))
    # 6 + 2 clones + 2 splits (each 1 -> 2) - 1 pruned = 9
    assert (state["num_cloned"], state["num_split"], state["num_pruned"]) == (2, 2, 1)
    assert len(model) == 9
    for p in model.parameters():
        assert p.shape[0] == 9
        assert opt.state[p]["exp_avg"].shape == p.shape and opt.state[p]["exp_avg_sq"].shape == p.shape
    # Survivors in order: originals 0, 1, 5 (2, 3 split away, 4 pruned), clones of 0, 1, then 2x split of 2, 3.
    first = opt.state[model.means]["exp_avg"][:, 0].tolist()
    assert first == [1.0, 2.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    # colours follow their Gaussians: the clones copy 0 and 1, the split children copy 2, 3, 2, 3
    dc = model.sh_dc[:, 0, 0].tolist()
    assert dc == [0.0, 3.0, 15.0, 0.0, 3.0, 6.0, 9.0, 6.0, 9.0]
    # split children are 1.6x smaller and placed around their parent
    torch.testing.assert_close(model.scales[5:, 0], torch.tensor([0.05, 0.05, 0.05, 0.05]) / 1.6)
    assert (model.means[5:] - _model().means[[2, 3, 2, 3]]).norm(dim=-1).max() < 0.05 * 6
    # the optimizer still steps the new parameters
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    before = model.means.detach().clone()
    opt.step()
    assert not torch.equal(before, model.means)
    assert state["grad2d"].shape == (9,) and state["grad2d"].abs().sum() == 0  # statistics restart


def test_prune_large_after_reset_and_never_empty():
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    strat = DensifyStrategy(max_world_size=0.02, refine_start=0, refine_every=10, reset_every=5,
                            grad_threshold=1.0)
    state = strat.init_state(model)
    strat.step_post_backward(model, opt, state, 10, _fake_output(torch.zeros(6)))
    # opacity 0.001 (index 4) and the two large ones (scale 0.05 > 0.02) go
    assert state["num_pruned"] == 3 and len(model) == 3
    strat.remove(model, opt, torch.tensor([True, True, False]))
    assert len(model) == 1
    everything = DensifyStrategy(min_opacity=0.99, refine_start=0, refine_every=1)
    st = everything.init_state(model)
    everything.step_post_backward(model, opt, st, 1, _fake_output(torch.zeros(1)))
    assert len(model) == 1


def test_opacity_reset_clamps_and_zeroes_moments():
    model = _model()
    opt = _adam_with_state(model)
    strat = DensifyStrategy(reset_every=100, refine_start=10_000, reset_opacity=0.01)
    state = strat.init_state(model)
    strat.step_post_backward(model, opt, state, 100, _fake_output(torch.zeros(6)))
    assert model.opacities.max() <= 0.01 + 1e-6
    assert abs(model.opacities[4].item() - 0.001) < 1e-6  # lower ones stay
    assert opt.state[model.opacity_logits]["exp_avg"].abs().sum() == 0
    assert opt.state[model.means]["exp_avg"].abs().sum() > 0
    assert "opacity reset" in state["last_action"]


def test_stats_from_a_real_render_and_errors():
    model = GaussianModel.random_in_sphere(30, radius=0.5, opacity=0.5, generator=torch.Generator().manual_seed(0))
    strat = DensifyStrategy()
    state = strat.init_state(model)
    cams = Cameras.orbit(0.0, [0.0, 90.0], width=24)
    out = render(model.gaussians(), cams)
    with pytest.raises(ValueError, match="has no .grad"):
        strat.step_post_backward(model, [], state, 1, out)
    out.rgb.mean().backward()
    strat.step_post_backward(model, [], state, 1, out)
    assert state["count"].max() == 2 and state["grad2d"].max() > 0
    assert 0 < state["radii"].max() < 1
    with pytest.raises(ValueError, match="split_count must be >= 2"):
        DensifyStrategy(split_count=1)
    with pytest.raises(ValueError, match="grad_threshold must be > 0"):
        DensifyStrategy(grad_threshold=0)


def test_densify_inside_a_fit_grows_and_keeps_training():
    cams = Cameras.orbit(0.0, 0.0, radius=2.5, width=32)
    gen = torch.Generator().manual_seed(3)
    target_model = GaussianModel.random_in_sphere(80, radius=0.6, opacity=0.9, generator=gen)
    with torch.no_grad():
        target_model.log_scales.fill_(math.log(0.06))
        target = render(target_model.gaussians(), cams, background=1.0).rgb
    model = GaussianModel.random_in_sphere(20, radius=0.5, opacity=0.5, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        model.log_scales.fill_(math.log(0.15))
    opt = torch.optim.Adam([{"params": [model.means], "lr": 5e-3},
                            {"params": [model.log_scales, model.quats], "lr": 2e-2},
                            {"params": [model.opacity_logits, model.sh_dc, model.sh_rest], "lr": 5e-2}])
    strat = DensifyStrategy(grad_threshold=2e-4, percent_dense=0.05, refine_start=5, refine_every=15,
                            reset_every=10_000, refine_stop=50)
    state = strat.init_state(model)
    losses = []
    for step in range(60):
        out = render(model.gaussians(), cams, background=1.0)
        loss = (out.rgb - target).abs().mean()
        loss.backward()
        strat.step_post_backward(model, opt, state, step, out)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert len(model) > 20 and state["num_cloned"] + state["num_split"] > 0
    assert losses[-1] < 0.6 * losses[0]
    for group in opt.param_groups:  # the optimizer holds the model's current parameters
        for p in group["params"]:
            assert any(p is q for q in model.parameters())
