"""Schedules and timestep samplers."""
import pytest
import torch

from motion4d.guidance.schedules import Schedule, TimestepSampler


def test_schedule_forms_evaluate_piecewise_linear():
    assert Schedule.parse(7.5)(123) == 7.5
    ramp = Schedule.parse([0.98, 0.5, 1000, 5000])          # [start, end, start_step, end_step]
    assert ramp(0) == 0.98 and ramp(1000) == 0.98
    assert ramp(3000) == pytest.approx(0.98 + (0.5 - 0.98) * 0.5)
    assert ramp(5000) == 0.5 and ramp(10 ** 6) == 0.5
    pts = Schedule.parse([[0, 0.0], [10, 1.0], [20, 3.0]])
    assert pts(5) == pytest.approx(0.5) and pts(15) == pytest.approx(2.0) and pts(-4) == 0.0 and pts(99) == 3.0


@pytest.mark.parametrize("bad", ["high", [1, 2, 3], [[0, 1], [0, 2]], [0.9, 0.5, 100, 50], True, [[0, 1, 2]]])
def test_schedule_rejects_bad_values_naming_the_key(bad):
    with pytest.raises(ValueError, match="guidance_scale"):
        Schedule.parse(bad, "guidance_scale")


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
    r = TimestepSampler("range", 0.02, [0.98, 0.5, 0, 1000], 1000, per_sample=True)
    late = torch.cat([r(2000, 8, torch.Generator().manual_seed(i)) for i in range(50)])
    assert late.max() <= 500 and r.bounds(0) == (20, 980) and r.bounds(500) == (20, 740)
    with pytest.raises(ValueError, match="mode"):
        TimestepSampler("cosine")
