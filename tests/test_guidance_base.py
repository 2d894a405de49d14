"""Loss helpers, CFG forms, image layouts and the Condition camera deltas."""
import pytest
import torch

from motion4d.config import ConfigError
from motion4d.guidance import Condition, GuidanceConfig, cfg_combine, clean_grad, sds_loss, to_bchw


def test_cfg_forms_match_hand_computation_in_uncond_cond_order():
    uncond, cond = torch.tensor([0.5, 3.0]), torch.tensor([1.0, 2.0])
    assert torch.allclose(cfg_combine(uncond, cond, 7.5), torch.tensor([0.5 + 7.5 * 0.5, 3.0 + 7.5 * -1.0]))
    assert torch.allclose(cfg_combine(uncond, cond, 100.0, "plus"), torch.tensor([1 + 100 * 0.5, 2 + 100 * -1.0]))
    # threestudio's form with s equals the standard form with s + 1
    assert torch.allclose(cfg_combine(uncond, cond, 9.0, "plus"), cfg_combine(uncond, cond, 10.0))
    with pytest.raises(ValueError, match="cfg form"):
        cfg_combine(uncond, cond, 1.0, "weird")


def test_sds_loss_gradient_is_grad_over_batch():
    z = torch.randn(3, 4, 5, 5, requires_grad=True)
    g = torch.randn(3, 4, 5, 5)
    loss = sds_loss(z, g)
    loss.backward()
    assert torch.allclose(z.grad, g / 3, atol=1e-6)
    assert loss.item() == pytest.approx(0.5 * g.pow(2).sum().item() / 3, rel=1e-5)


def test_clean_grad_removes_nan_and_clips():
    g = torch.tensor([float("nan"), float("inf"), -5.0, 0.3])
    assert clean_grad(g).tolist() == [0.0, 0.0, -5.0, pytest.approx(0.3)]
    assert clean_grad(g, 1.0).tolist() == [0.0, 0.0, -1.0, pytest.approx(0.3)]


def test_to_bchw_layouts_and_rgba():
    x = torch.rand(2, 6, 5, 3)
    assert torch.equal(to_bchw(x), x.permute(0, 3, 1, 2))
    assert torch.equal(to_bchw(x.permute(0, 3, 1, 2)), x.permute(0, 3, 1, 2))
    rgba = torch.cat([torch.zeros(1, 4, 4, 3), torch.zeros(1, 4, 4, 1)], -1)    # transparent -> white
    assert torch.equal(to_bchw(rgba), torch.ones(1, 3, 4, 4))
    tiny = torch.rand(1, 3, 4, 3)                                               # ambiguous: channels-last
    assert torch.equal(to_bchw(tiny), tiny.permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match="shape"):
        to_bchw(torch.rand(2, 5, 5, 2))


def test_condition_relative_camera_wraps_azimuth():
    c = Condition(elevation=[30.0, -10.0], azimuth=[350.0, 90.0], radius=[3.0, 2.0], ref_elevation=10.0,
                  ref_azimuth=20.0, ref_radius=2.5)
    d_el, d_az, d_r = c.relative_camera(2)
    assert d_el.tolist() == [20.0, -20.0] and d_az.tolist() == [-30.0, 70.0] and d_r.tolist() == [0.5, -0.5]
    with pytest.raises(ValueError, match="azimuth"):
        Condition(elevation=0.0, radius=1.0).relative_camera(1)


def test_config_defaults_per_type_and_errors():
    from motion4d.guidance import Constant

    assert GuidanceConfig(type="mvdream").guidance_scale == Constant(50.0)
    assert GuidanceConfig(type="sd").cfg_form == "plus" and GuidanceConfig(type="vsd").cfg_form == "standard"
    assert GuidanceConfig(type="stable-zero123").timesteps == "anneal"
    with pytest.raises(ConfigError, match="type"):
        GuidanceConfig(type="dreamfusion")
    with pytest.raises(ConfigError, match="guidance_scale"):
        GuidanceConfig(type="sd", guidance_scale=[1, 2])


def test_removed_weight_key_names_its_replacement():
    """One weight per loss term: the caller's lambda. The former guidance ``weight`` is an error saying so."""
    from motion4d.config import load_config
    from motion4d.guidance import HybridConfig

    with pytest.raises(ConfigError, match=r"'weight' was removed.*lambda_sds.*weights\.<guidance name>"):
        load_config(GuidanceConfig, data={"type": "video", "weight": 0.1})
    with pytest.raises(ConfigError, match="guidances.v: config key 'weight' was removed"):
        HybridConfig(guidances={"v": {"type": "video", "weight": 0.1}},
                     stages=[{"steps": 1, "dynamic": True, "probabilities": {"v": 1.0}}])


def test_section_numbers_are_schedules_too():
    from motion4d.guidance.base import Guidance

    class Schedules(Guidance):  # the base is abstract; the schedules need no model
        _load = encode_condition = predict_noise = None

    cfg = GuidanceConfig(type="mvdream", mvdream={"recon_std_rescale": [0, 0.0, 1.0, 100]},
                         video={"motion_amp_scale": [[0, 1.0], [10, 5.0]]})
    g = Schedules(cfg)
    assert g.value("mvdream.recon_std_rescale", 50) == pytest.approx(0.5)
    assert g.value("video.motion_amp_scale", 5) == pytest.approx(3.0)
    with pytest.raises(ConfigError, match="video.motion_amp_scale"):
        GuidanceConfig(type="video", video={"motion_amp_scale": "fast"})
