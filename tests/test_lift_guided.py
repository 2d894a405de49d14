"""The lift with guidance: exact resume, stage-local annealing, prompts, and the guidance's render spec."""
import pytest
import torch

from motion4d.lift import load_input, load_lift_config
from motion4d.lift.stages import DynamicStage
from motion4d.lift.trainer import LiftTrainer

TINY = ["static.num_points=80", "static.views_per_step=2", "dynamic.frames_per_step=2", "dynamic.views_per_frame=2",
        "output.preview_every=0", "input.holdout=[el+00_az045]", "dynamic.deform.resolution=[6,6,6,3]",
        "dynamic.deform.channels=4", "dynamic.deform.width=16", "guidance.render_size=16",
        "dynamic.sds_views_per_frame=1"]


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    from _lift_data import write_multiview

    root, _ = write_multiview(tmp_path_factory.mktemp("mv") / "scene", num_frames=3)
    return root


def _guidance(cfg):
    from motion4d.lift.api import build_lift_guidance

    return build_lift_guidance(cfg)


def _zero123(extra=()):
    from motion4d.guidance.tiny import tiny_checkpoint

    return ["guidance.kind=zero123", f"guidance.options={{model: '{tiny_checkpoint('zero123')}', height: 8, width: 8}}",
            *extra]


def _state(tr):
    out = {f"m.{k}": v.detach().clone() for k, v in tr.model.state_dict().items()}
    out.update({f"f.{k}": v.detach().clone() for k, v in tr.field.state_dict().items()})
    return out


def _vsd():
    from motion4d.guidance.tiny import tiny_checkpoint

    return ["guidance.kind=vsd", "prompt=lower", f"guidance.options={{model: '{tiny_checkpoint('sd')}', height: 8, "
            f"width: 8, vsd: {{lora_lr: 0.01}}}}"]


@pytest.mark.parametrize("kind", ["zero123", "vsd"])
def test_resume_with_guidance_is_bit_exact(mv, tmp_path, monkeypatch, kind):
    """zero123: the guidance's noise is reseeded per step; vsd: also its LoRA and the LoRA's AdamW state resume."""
    cfg = load_lift_config("multiview", overrides=TINY + (_zero123() if kind == "zero123" else _vsd()) + [
        "static.iters=3", "dynamic.iters=4", "output.checkpoint_every=2", "static.lambda_sds=1",
        "dynamic.lambda_sds=1"])
    data = load_input(mv, cfg.input, cfg.camera)
    full = LiftTrainer(data, cfg, tmp_path / "full", guidance=_guidance(cfg), log=lambda s: None)
    full.train()
    expected = _state(full)
    assert any(k.startswith("sds") for k in full.state.history[-1])

    original, calls = DynamicStage.step, {"n": 0}

    def crash(self, step, gen):
        calls["n"] += 1
        if calls["n"] == 4:  # global step 3 + 3 = 6 was never reached; the last checkpoint is step 4
            raise KeyboardInterrupt
        return original(self, step, gen)

    monkeypatch.setattr(DynamicStage, "step", crash)
    with pytest.raises(KeyboardInterrupt):
        LiftTrainer(data, cfg, tmp_path / "cut", guidance=_guidance(cfg), log=lambda s: None).train()
    monkeypatch.setattr(DynamicStage, "step", original)
    # a fresh guidance object: its generator starts elsewhere, the per-step reseeding must not care
    resumed = LiftTrainer(data, cfg, tmp_path / "cut", guidance=_guidance(cfg), log=lambda s: None)
    resumed.train(resume=True)
    got = _state(resumed)
    assert got.keys() == expected.keys()
    for k in expected:
        assert torch.equal(got[k], expected[k]), (k, float((got[k] - expected[k]).abs().max()))
    assert resumed.field.head_means[-1].weight.abs().sum() > 0


def test_dynamic_stage_anneals_its_own_timesteps_from_high_to_low(mv, tmp_path):
    """``default`` preset (stable-zero123, annealed t): the dynamic stage restarts the annealing at its step 0."""
    from motion4d.guidance.tiny import tiny_checkpoint

    cfg = load_lift_config("default", overrides=TINY + [
        "input.num_frames=0", "input.recenter=false", "static.iters=3", "dynamic.iters=4",
        "output.checkpoint_every=0", f"guidance.options={{model: '{tiny_checkpoint('zero123')}', height: 8, "
        f"width: 8, anneal_steps: 4}}"])
    assert cfg.guidance.kind == "stable-zero123"
    data = load_input(mv, cfg.input, cfg.camera)
    guidance = _guidance(cfg)
    seen = []
    losses = guidance.losses

    def record(images, condition, step=0):
        out = losses(images, condition, step)
        seen.append((step, int(guidance.stats["t"][0])))
        return out

    guidance.losses = record
    tr = LiftTrainer(data, cfg, tmp_path, guidance=guidance, log=lambda s: None)
    tr.train()
    static, dynamic = seen[:3], seen[3:]
    assert [s for s, _ in static] == [0, 1, 2] and [s for s, _ in dynamic][::2] == [0, 1, 2, 3]
    t_dyn = [t for _, t in dynamic][::2]  # two frames per step, one call each
    assert t_dyn[0] >= 900 and t_dyn[-1] <= 300, t_dyn
    assert all(a > b for a, b in zip(t_dyn, t_dyn[1:])), t_dyn


def test_text_guidance_drives_the_lift_with_a_prompt(mv, tmp_path):
    from motion4d.guidance.tiny import tiny_checkpoint
    from motion4d.lift import lift

    over = TINY + ["static.iters=2", "dynamic.iters=2", "output.checkpoint_every=0", "output.export=false",
                   "guidance.kind=sd", f"guidance.options={{model: '{tiny_checkpoint('sd')}', height: 8, width: 8}}"]
    cfg = load_lift_config("multiview", overrides=over)
    with pytest.raises(ValueError, match="sd guidance is text-conditioned and needs a prompt: pass --prompt"):
        lift(mv, tmp_path / "no-prompt", cfg, log=lambda s: None)
    assert not (tmp_path / "no-prompt" / "checkpoints").exists()

    cfg = load_lift_config("multiview", overrides=over + ["prompt=lower", "negative_prompt=wider"])
    guidance = _guidance(cfg)
    prompts = []
    losses = guidance.losses

    def record(images, condition, step=0):
        prompts.append((condition.prompt, condition.negative_prompt, tuple(images.shape)))
        return losses(images, condition, step)

    guidance.losses = record
    result = lift(mv, tmp_path / "run", cfg, guidance=guidance, log=lambda s: None)
    assert prompts and all(p[:2] == ("lower", "wider") for p in prompts)
    hist = result.metadata["losses"]
    assert hist["stage"] == "dynamic" and "sds" in hist and hist["sds"] == hist["sds"]


class _SpecGuidance(torch.nn.Module):
    """A stand-in guidance that asks for a render spec and records what it gets."""

    kind = "fake"

    def __init__(self, views=1, frames=1, needs=("prompt",)):
        super().__init__()
        from motion4d.guidance import RenderSpec

        self.render_spec = RenderSpec(views=views, height=16, width=32, frames=frames)
        self.needs = frozenset(needs)
        self.generator = torch.Generator().manual_seed(0)
        self.calls = []

    def forward(self, images, condition, step=0):
        self.calls.append((tuple(images.shape), condition.azimuth.clone(), condition.elevation.clone(), step))
        return {"sds": (images - 0.5).square().mean()}


@pytest.mark.parametrize("views, frames", [(4, 1), (1, 5)])
def test_the_trainer_renders_what_the_guidance_asks_for(mv, tmp_path, views, frames):
    cfg = load_lift_config("multiview", overrides=TINY + ["static.iters=1", "dynamic.iters=2", "prompt=a box",
                                                          "output.checkpoint_every=0"])
    data = load_input(mv, cfg.input, cfg.camera)
    g = _SpecGuidance(views, frames)
    LiftTrainer(data, cfg, tmp_path, guidance=g, log=lambda s: None).train()
    if frames == 1:  # MVDream-like: groups of 4 views, one elevation, azimuths 90 degrees apart
        assert len(g.calls) == 1 + 2 * 2 and all(c[0] == (4, 16, 32, 3) for c in g.calls)
        for _, az, el, _ in g.calls:
            assert torch.allclose(el, el[:1].expand(4))
            assert torch.allclose(torch.remainder(az - az[0], 360.0), torch.tensor([0.0, 90, 180, 270]), atol=1e-3)
    else:  # video-like: one clip of 5 frames per dynamic step, none in the static stage
        assert [c[0] for c in g.calls] == [(5, 16, 32, 3)] * 2 and [c[3] for c in g.calls] == [0, 1]


def test_guidance_needing_a_prompt_fails_before_training(mv, tmp_path):
    cfg = load_lift_config("multiview", overrides=TINY + ["static.iters=1", "dynamic.iters=1"])
    data = load_input(mv, cfg.input, cfg.camera)
    with pytest.raises(ValueError, match="fake guidance is text-conditioned and needs a prompt"):
        LiftTrainer(data, cfg, tmp_path, guidance=_SpecGuidance(), log=lambda s: None)
    LiftTrainer(data, cfg, tmp_path, guidance=_SpecGuidance(needs=("image",)), log=lambda s: None)
