"""The lift training engine: resume == uninterrupted, a tiny end-to-end fit improves held-out PSNR."""
import pytest
import torch

from motion4d.lift import lift, load_input, load_lift_config
from motion4d.lift.result import LiftResult
from motion4d.lift.stages import DynamicStage, StaticStage
from motion4d.lift.trainer import LiftTrainer
from motion4d.render import render


def _psnr(a, b):
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    from _lift_data import write_multiview

    root, cams = write_multiview(tmp_path_factory.mktemp("mv") / "scene", num_frames=3)
    return root


TINY = ["static.num_points=120", "static.views_per_step=2", "dynamic.frames_per_step=2", "dynamic.views_per_frame=2",
        "output.preview_every=0", "input.holdout=[el+00_az045]", "dynamic.deform.resolution=[6,6,6,3]",
        "dynamic.deform.channels=4", "dynamic.deform.width=16"]


def _state(tr):
    out = {f"m.{k}": v.detach().clone() for k, v in tr.model.state_dict().items()}
    out.update({f"f.{k}": v.detach().clone() for k, v in tr.field.state_dict().items()})
    return out


@pytest.mark.parametrize("stage, crash_at, resume_step", [("static", 4, 2), ("dynamic", 3, 6)])
def test_resume_matches_uninterrupted_run(mv, tmp_path, monkeypatch, stage, crash_at, resume_step):
    # densification runs at static step 3: a crash at step 4 (static) resumes from step 2 with the
    # restored gradient statistics; a crash at dynamic step 3 resumes inside the dynamic stage
    cfg = load_lift_config("multiview", overrides=TINY + [
        "static.iters=5", "dynamic.iters=4", "output.checkpoint_every=2", "static.densify_from=1",
        "static.densify_until=5", "static.densify_interval=3", "static.densify_grad_threshold=1e-7",
        "dynamic.lambda_rigidity=100"])
    data = load_input(mv, cfg.input, cfg.camera)
    full = LiftTrainer(data, cfg, tmp_path / "full", log=lambda s: None)
    n0 = len(full.model)
    full.train()
    assert len(full.model) != n0  # densification changed the model (what resume must reproduce)
    expected = _state(full)

    interrupted = LiftTrainer(data, cfg, tmp_path / "cut", log=lambda s: None)
    cls = StaticStage if stage == "static" else DynamicStage
    original = cls.step
    calls = {"n": 0}

    def crash(self, step, gen):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise KeyboardInterrupt
        return original(self, step, gen)

    monkeypatch.setattr(cls, "step", crash)
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    monkeypatch.setattr(cls, "step", original)
    resumed = LiftTrainer(data, cfg, tmp_path / "cut", log=lambda s: None)
    assert resumed.load_latest() and resumed.global_step == resume_step
    resumed = LiftTrainer(data, cfg, tmp_path / "cut", log=lambda s: None)
    resumed.train(resume=True)
    got = _state(resumed)
    assert got.keys() == expected.keys()
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-5, atol=1e-6, msg=k)
    # and the run did really change the field (the comparison is not between two untouched inits)
    assert resumed.field.head_means[-1].weight.abs().sum() > 0


def test_resume_refuses_a_different_config(mv, tmp_path):
    cfg = load_lift_config("multiview", overrides=TINY + ["static.iters=2", "dynamic.iters=0",
                                                          "output.checkpoint_every=1"])
    data = load_input(mv, cfg.input, cfg.camera)
    LiftTrainer(data, cfg, tmp_path, log=lambda s: None).train()
    other = load_lift_config("multiview", overrides=TINY + ["static.iters=2", "dynamic.iters=0",
                                                            "static.lr_sh=0.5"])
    with pytest.raises(ValueError, match=r"different config.*static.lr_sh"):
        LiftTrainer(data, other, tmp_path, log=lambda s: None).train(resume=True)


def test_tiny_lift_improves_heldout_psnr(mv, tmp_path):
    from _lift_data import moving_blob, render_rgba
    from motion4d.camera import Cameras

    cfg = load_lift_config("multiview", overrides=TINY + ["static.iters=40", "dynamic.iters=30",
                                                          "output.checkpoint_every=0"])
    data = load_input(mv, cfg.input, cfg.camera)
    at, F = moving_blob(3)
    held = Cameras.orbit(0.0, 45.0, 2.5, 49.1, 32)
    gt = torch.from_numpy(render_rgba(at, F, held)[0]).float() / 255  # [F,H,W,4]
    gt_rgb = gt[..., :3] * gt[..., 3:] + (1 - gt[..., 3:])
    logs = []
    tr = LiftTrainer(data, cfg, tmp_path, log=logs.append)
    assert not any("no guidance" in s for s in logs)  # said when training starts, not when building

    def heldout(result):
        return sum(_psnr(render(result.gaussians_at(f / (F - 1)), held, 1.0).rgb[0], gt_rgb[f]) for f in range(F)) / F

    before = heldout(LiftResult(tr.canonical(), None, F))
    tr.train()
    assert any("no guidance: reference views only" in s for s in logs)
    result = LiftResult(tr.canonical(), tr.field, F)
    after = heldout(result)
    static_only = heldout(result.static())
    assert after > before + 1.5, (before, after)
    assert after > static_only, (static_only, after)  # the field explains the motion


def test_score_distillation_runs_through_the_guidance_interface(mv, tmp_path):
    """With a (tiny, random) Zero123 guidance the novel-view SDS loss is part of both stages."""
    from motion4d.guidance.tiny import tiny_checkpoint
    from motion4d.lift.api import build_lift_guidance

    cfg = load_lift_config("multiview", overrides=TINY + [
        "static.iters=2", "dynamic.iters=2", "output.checkpoint_every=0", "guidance.kind=zero123",
        f"guidance.options={{model: '{tiny_checkpoint('zero123')}', height: 8, width: 8}}",
        "guidance.render_size=16", "dynamic.sds_views_per_frame=1", "static.ref_warmup=true"])
    guidance = build_lift_guidance(cfg)
    assert guidance is not None
    data = load_input(mv, cfg.input, cfg.camera)
    logs = []
    tr = LiftTrainer(data, cfg, tmp_path, guidance=guidance, log=logs.append)
    tr.train()
    assert not any("no guidance" in s for s in logs)
    sds = [k for k in tr.state.history[0] if k.startswith("sds")]
    assert sds and all(tr.state.history[0][k] == tr.state.history[0][k] for k in sds)  # present and not NaN
    assert tr.state.history[-1]["stage"] == "dynamic" and any(k.startswith("sds") for k in tr.state.history[-1])


def test_isometry_loss_allows_rigid_motion_only():
    from motion4d.lift.stages import isometry_loss as _isometry, neighbours

    g = torch.Generator().manual_seed(0)
    pts = torch.rand(60, 3, generator=g)
    knn = neighbours(pts, 4)
    assert knn.shape == (60, 4) and not (knn == torch.arange(60)[:, None]).any()
    c, s_ = torch.cos(torch.tensor(0.7)), torch.sin(torch.tensor(0.7))
    rot = torch.tensor([[c, 0, s_], [0, 1, 0], [-s_, 0, c]])
    assert _isometry(pts, pts @ rot.T + torch.tensor([0.3, -0.2, 0.1]), knn) < 1e-10
    stretched = pts * torch.tensor([1.5, 1.0, 1.0])
    assert _isometry(pts, stretched, knn) > 1e-3


def test_a_diverged_step_stops_with_stage_step_and_checkpoint_and_saves_nothing_after(mv, tmp_path, monkeypatch):
    """Issue #16: a NaN/inf loss or parameter stops training with one clear error naming the stage, the step,
    the likely keys and the checkpoint to resume from; the last checkpoint stays the last good state."""
    from motion4d.deform import NonFiniteError
    from motion4d.lift.stages import StaticStage

    original = StaticStage.step

    def diverging(self, step, gen):
        losses = original(self, step, gen)
        if step == 3:
            with torch.no_grad():
                self.model.means[0, 0] = float("nan")
        return losses

    monkeypatch.setattr(StaticStage, "step", diverging)
    cfg = load_lift_config("demo", overrides=TINY + ["static.iters=6", "dynamic.iters=2", "output.checkpoint_every=2",
                                                     "output.export=false"])
    with pytest.raises(NonFiniteError, match=r"static stage at step 3: non-finite gaussians parameters.*"
                                             r"static.lr_means.*resume from .*step-000002"):
        lift(mv, tmp_path / "run", cfg, log=lambda s: None)
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step-000002"]                                   # nothing saved after the bad step
    assert not (tmp_path / "run" / "result.json").exists()


def test_resume_skips_a_damaged_checkpoint_for_the_one_before(mv, tmp_path, monkeypatch):
    """Issue #16: a corrupt newest checkpoint on --resume falls back to the previous one, in one line."""
    cfg = load_lift_config("demo", overrides=TINY + ["static.iters=4", "dynamic.iters=2", "output.checkpoint_every=2",
                                                     "output.export=false"])
    lift(mv, tmp_path / "run", cfg, log=lambda s: None)
    ckpts = sorted((tmp_path / "run" / "checkpoints").iterdir())
    assert len(ckpts) == 2
    (ckpts[-1] / "state.safetensors").write_bytes(b"not a safetensors file")
    logs: list[str] = []
    lift(mv, tmp_path / "run", cfg, resume=True, log=logs.append)
    assert any("cannot be read" in s and ckpts[-1].name in s for s in logs)
    assert any(f"resumed from {ckpts[0]}" in s for s in logs)
