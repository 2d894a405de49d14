"""4D-fy hybrid SDS scheduler: frequencies, determinism, render mode, freezing, preset and errors."""
from collections import Counter

import pytest

from motion4d.config import ConfigError, load_config
from motion4d.guidance import HybridConfig, HybridScheduler, HybridSDS


def _preset():
    return load_config(HybridConfig, preset=("guidance", "hybrid-4dfy"))


def test_preset_is_4dfy_three_stages():
    cfg = _preset()
    assert [s.steps for s in cfg.parsed_stages] == [10000, 25000, 100000]
    assert [s.probabilities for s in cfg.parsed_stages] == [
        {"mvdream": 1.0}, {"mvdream": 0.5, "vsd": 0.5}, {"mvdream": 0.5, "vsd": 0.25, "video": 0.25}]
    assert cfg.loss_weights["video"](0) == 0.1 and cfg.loss_weights["mvdream"](0) == 1.0
    assert cfg.guidance_configs["mvdream"].guidance_scale(0) == 50
    vsd_t_max = cfg.guidance_configs["vsd"].t_max                   # U(20, 980) until step 5000, then U(20, 500)
    assert (vsd_t_max(4999), vsd_t_max(5000)) == (0.98, 0.5)
    assert cfg.clip_guidances == ["video"] and cfg.total_steps == 135000


def test_empirical_frequencies_match_probabilities():
    sched = HybridScheduler(_preset())
    n = 20000
    stage3 = Counter(sched.plan(35000 + i).guidance for i in range(n))
    assert abs(stage3["mvdream"] / n - 0.5) < 0.015
    assert abs(stage3["vsd"] / n - 0.25) < 0.015 and abs(stage3["video"] / n - 0.25) < 0.015
    stage1 = Counter(sched.plan(i).guidance for i in range(2000))
    assert stage1 == Counter({"mvdream": 2000})


def test_plans_are_seeded_pure_and_say_what_to_render():
    a, b = HybridScheduler(_preset()), HybridScheduler(_preset())
    steps = [35000 + 7 * i for i in range(300)]
    assert [a.plan(s) for s in steps] == [b.plan(s) for s in reversed(steps)][::-1]   # order-free (resume)
    other = HybridScheduler(load_config(HybridConfig, preset=("guidance", "hybrid-4dfy"), overrides=["seed=1"]))
    assert [a.plan(s).guidance for s in steps] != [other.plan(s).guidance for s in steps]
    for s in steps:
        p = a.plan(s)
        assert p.stage == "dynamic-hybrid" and p.stage_step == s - 35000
        if p.guidance == "video":
            assert p.render == "clip" and len(p.times) == 16 and not p.freeze_deformation
            assert 0 <= p.times[0] < 1 / 16 and p.times[-1] < 1
        else:
            assert p.render == "time" and len(p.times) == 1 and p.freeze_deformation
    static = a.plan(12000)
    assert static.times == (0.0,) and static.freeze_deformation and static.stage_index == 1


def test_bad_hybrid_configs_fail_with_the_stage_named():
    guid = {"mv": {"type": "mvdream"}, "vid": {"type": "video"}}
    with pytest.raises(ConfigError, match="sum to 1"):
        HybridConfig(guidances=guid, stages=[{"name": "s", "steps": 5, "probabilities": {"mv": 0.7}}])
    with pytest.raises(ConfigError, match="unknown guidance 'sd'"):
        HybridConfig(guidances=guid, stages=[{"steps": 5, "probabilities": {"sd": 1.0}}])
    with pytest.raises(ConfigError, match="static stage cannot use clip"):
        HybridConfig(guidances=guid, stages=[{"steps": 5, "probabilities": {"mv": 0.5, "vid": 0.5}}])
    with pytest.raises(ConfigError, match="guidances.mv"):
        HybridConfig(guidances={"mv": {"type": "mvdream", "cfg_form": "odd"}},
                     stages=[{"steps": 5, "probabilities": {"mv": 1.0}}])


def test_stage_overrides_reconfigure_guidance_schedules():
    hybrid = HybridSDS(_preset())
    g = hybrid.guidance("mvdream")
    seen = {}

    def fake_losses(images, condition, step):
        seen[step] = g._sampler_bounds = (g.value("t_min", step), g.value("t_max", step))
        return {}

    g.losses = fake_losses
    hybrid.losses(None, None, hybrid.plan(4000))           # stage 1: annealed range
    assert seen[4000] == pytest.approx((0.98 + (0.02 - 0.98) * 0.5, 0.98 + (0.5 - 0.98) * 0.5))
    hybrid.losses(None, None, hybrid.plan(10000 + 4000))   # stage 2: fixed U(0.02, 0.5), stage-local step
    assert seen[4000] == pytest.approx((0.02, 0.5))


def test_hybrid_runner_calls_the_planned_tiny_guidance():
    import torch

    from motion4d.guidance import Condition
    from motion4d.guidance.tiny import tiny_mvdream, tiny_video

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        small = {"height": 8, "width": 8}
        cfg = HybridConfig(seed=3, frames=4, guidances={
            "mv": {"type": "mvdream", "model": str(tiny_mvdream()), **small},
            "vid": {"type": "video", "model": str(tiny_video()), "video": {"num_frames": 4}, **small}},
            weights={"vid": 0.1},
            stages=[{"name": "dyn", "steps": 10, "dynamic": True, "probabilities": {"mv": 0.5, "vid": 0.5},
                     "overrides": {"mv": {"guidance_scale": [[0, 10.0], [10, 20.0]]}}}])
        hybrid = HybridSDS(cfg)
        seen = set()
        for step in range(6):
            plan = hybrid.plan(step)
            spec = hybrid.render_spec(plan)
            n = len(plan.times) if plan.render == "clip" else spec.views
            images = torch.rand(n, 8, 8, 3, requires_grad=True)
            cond = Condition(prompt="a lower", elevation=10.0, azimuth=[90.0 * i for i in range(n)], radius=2.5)
            losses = hybrid.losses(images, cond, plan)
            assert set(losses) == ({"sds_video"} if plan.guidance == "vid" else {"sds"})
            sum(losses.values()).backward()
            assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
            seen.add(plan.guidance)
        assert seen == {"mv", "vid"}
        assert hybrid.guidance("mv").value("guidance_scale", 5) == 15.0      # stage override in effect
        # the hybrid's weight is the one weight of the video loss: 0.1 x the guidance's own (unweighted) loss
        plan = next(hybrid.plan(s) for s in range(50) if hybrid.plan(s).guidance == "vid")
        frames = torch.rand(4, 8, 8, 3, generator=torch.Generator().manual_seed(1))
        vid = hybrid.guidance("vid")
        vid.generator.manual_seed(5)
        weighted = hybrid.losses(frames, Condition(prompt="a lower"), plan)["sds_video"]
        vid.generator.manual_seed(5)
        own = vid.losses(frames, Condition(prompt="a lower"), plan.stage_step)["sds_video"]
        assert own > 0 and torch.allclose(weighted, 0.1 * own)
    finally:
        torch.set_num_threads(before)
