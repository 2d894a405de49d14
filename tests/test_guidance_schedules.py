"""Typed schedules (Constant, Ramp, Linear, Stepped), their parsing, and the timestep samplers."""
import pytest
import torch

from motion4d.config import ConfigError, config_to_dict, load_config
from motion4d.guidance import GuidanceConfig, HybridConfig
from motion4d.guidance.schedules import Constant, Linear, Ramp, Schedule, Stepped, TimestepSampler


def test_ramp_follows_threestudio_list_order():
    """threestudio's C(): ``start_step, start_value, end_value, end_step = value``; 3 items mean start_step 0."""
    ramp = Schedule.parse([1000, 0.98, 0.5, 5000])
    assert ramp == Ramp(start_step=1000, start=0.98, end=0.5, end_step=5000)
    assert ramp(0) == 0.98 and ramp(1000) == 0.98
    assert ramp(3000) == pytest.approx(0.98 + (0.5 - 0.98) * 0.5)
    assert ramp(5000) == 0.5 and ramp(10 ** 6) == 0.5
    assert Schedule.parse([0.98, 0.5, 5000]) == Ramp(0, 0.98, 0.5, 5000)


def test_constant_linear_and_stepped():
    assert Schedule.parse(7.5) == Constant(7.5) and Constant(7.5)(123) == 7.5 and Constant(7.5).is_constant
    pts = Schedule.parse([[0, 0.0], [10, 1.0], [20, 3.0]])
    assert isinstance(pts, Linear)
    assert pts(5) == pytest.approx(0.5) and pts(15) == pytest.approx(2.0) and pts(-4) == 0.0 and pts(99) == 3.0
    stairs = Schedule.parse({"kind": "stepped", "points": [[0, 0.98], [5000, 0.5]]})
    assert stairs == Stepped([(0, 0.98), (5000, 0.5)])
    assert [stairs(s) for s in (-1, 0, 4999, 5000, 9000)] == [0.98, 0.98, 0.98, 0.5, 0.5]


@pytest.mark.parametrize("schedule", [Constant(2.0), Ramp(10, 0.9, 0.1, 20), Linear([(0, 1.0), (5, 2.0)]),
                                      Stepped([(0, 1.0), (5, 2.0)])])
def test_config_dict_of_a_schedule_parses_back_to_it(schedule):
    assert Schedule.parse(config_to_dict(schedule)) == schedule


@pytest.mark.parametrize("bad, why", [
    ("high", "not a number"),
    ([0.98, 0.5, 0, 5000], "integer step"),          # the old motion4d order [start, end, start_step, end_step]
    ([0, 0.9, 0.5, 0], "after start_step"),
    ([1, 2], "3 or 4"),
    ([[0, 1], [0, 2]], "increase strictly"),
    ([[0, 1, 2]], r"\[step, value\]"),
    (True, "not a number"),
    ({"kind": "cosine"}, "kind 'cosine'"),
    ({"kind": "ramp", "start": 1.0}, "start_step"),
    (float("nan"), "finite"),
])
def test_schedule_parse_errors_name_the_key_and_the_reason(bad, why):
    with pytest.raises(ValueError, match=r"guidance_scale=.*" + why):
        Schedule.parse(bad, "guidance_scale")


def test_config_and_cli_values_parse_to_typed_schedules_with_the_key_named():
    cfg = load_config(GuidanceConfig, data={"type": "mvdream"}, overrides=["t_max=[0, 0.98, 0.5, 8000]"])
    assert cfg.t_max == Ramp(0, 0.98, 0.5, 8000) and cfg.guidance_scale == Constant(50.0)
    assert cfg.with_(seed=3).t_max == cfg.t_max                   # survives the dict round trip
    with pytest.raises(ConfigError, match=r"t_max=\[0.98, 0.5, 0, 8000\].*threestudio"):
        load_config(GuidanceConfig, overrides=["t_max=[0.98, 0.5, 0, 8000]"])
    with pytest.raises(ConfigError, match="vsd.lora_guidance_scale"):
        GuidanceConfig(type="vsd", vsd={"lora_guidance_scale": "x"})
    guid = {"mv": {"type": "mvdream"}}
    stage = [{"steps": 5, "probabilities": {"mv": 1.0}}]
    with pytest.raises(ConfigError, match="weights.mv"):
        HybridConfig(guidances=guid, stages=stage, weights={"mv": [1, 2]})
    with pytest.raises(ConfigError, match=r"stages\[0\].*overrides.mv.*t_min"):
        HybridConfig(guidances=guid, stages=[{**stage[0], "overrides": {"mv": {"t_min": [0.5, 0.1, 0, 10]}}}])


def test_anneal_is_dreamgaussian4d_linear_and_clipped():
    s = TimestepSampler("anneal", 0.02, 0.98, 1000, anneal_steps=500)
    for step in (0, 1, 100, 250, 499, 500, 800):
        expected = min(max(round((1 - min(step, 500) / 500) * 1000), 20), 980)
        t = s(step, batch=3)
        assert t.tolist() == [expected] * 3, step


def test_uniform_and_range_respect_bounds_and_seed():
    s = TimestepSampler("uniform", 0.2, 0.5, 1000)
    t = torch.cat([s(0, 4, torch.Generator().manual_seed(i)) for i in range(200)])
    assert t.min() >= 200 and t.max() <= 500 and len(set(t.tolist())) > 50
    a = s(0, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a, s(0, 4, torch.Generator().manual_seed(3)))
    assert len(set(a.tolist())) == 1                       # one shared t per batch by default
    r = TimestepSampler("range", 0.02, Ramp(0, 0.98, 0.5, 1000), 1000, per_sample=True)
    late = torch.cat([r(2000, 8, torch.Generator().manual_seed(i)) for i in range(50)])
    assert late.max() <= 500 and r.bounds(0) == (20, 980) and r.bounds(500) == (20, 740)
    with pytest.raises(ValueError, match="mode"):
        TimestepSampler("cosine")
