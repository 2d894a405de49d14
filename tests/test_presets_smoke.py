"""Every shipped preset (lift, guidance, motion) loads and runs a few steps with tiny components."""
import pytest
import torch

from motion4d.config import list_presets, load_config


def _tiny_model(kind: str) -> str:
    from motion4d.guidance.tiny import tiny_checkpoint

    family = {"zero123": "zero123", "stable-zero123": "zero123", "sd": "sd", "vsd": "sd", "mvdream": "mvdream",
              "video": "video"}[kind]
    return str(tiny_checkpoint(family))


# ------------------------------------------------------------------------------------------ lift
@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    from _lift_data import write_multiview

    root, _ = write_multiview(tmp_path_factory.mktemp("mv") / "scene", num_frames=3)
    return root


def test_every_lift_preset_is_tested():
    assert set(list_presets("lift")) == {"default", "demo", "low", "multiview"}


@pytest.mark.parametrize("name", list_presets("lift"))
def test_lift_preset_runs(name, mv, tmp_path):
    from motion4d.lift import load_input, load_lift_config
    from motion4d.lift.api import build_lift_guidance
    from motion4d.lift.trainer import LiftTrainer

    cfg = load_lift_config(name)
    small = ["input.num_frames=3", "input.size=32", "static.iters=2", "static.num_points=60", "dynamic.iters=2",
             "dynamic.frames_per_step=2", "dynamic.deform.resolution=[4,4,4,3]", "dynamic.deform.channels=4",
             "dynamic.deform.width=8", "output.preview_every=0", "output.checkpoint_every=0",
             "guidance.render_size=16", f"dynamic.sds_views_per_frame={min(cfg.dynamic.sds_views_per_frame, 1)}"]
    if cfg.guidance.kind != "none":
        small.append(f"guidance.options={{model: '{_tiny_model(cfg.guidance.kind)}', height: 8, width: 8}}")
    cfg = load_lift_config(name, overrides=small)
    # the multi-view preset trains on every calibrated view; the others on one clip (the reference view)
    data = load_input(mv if cfg.static.init == "visual_hull" else mv / "ref", cfg.input, cfg.camera)
    tr = LiftTrainer(data, cfg, tmp_path, guidance=build_lift_guidance(cfg), log=lambda s: None)
    tr.train()
    assert tr.state.stage == "done" and tr.global_step == 4
    last = tr.state.history[-1]
    assert last["stage"] == "dynamic" and last["loss"] == last["loss"]
    assert any(k.startswith("sds") for k in last) == (cfg.guidance.kind != "none" and cfg.dynamic.lambda_sds > 0)


# -------------------------------------------------------------------------------------- guidance
def _condition(n: int):
    from motion4d.camera import Cameras
    from motion4d.guidance import Condition

    az = [90.0 * i for i in range(n)]
    return Condition(prompt="a lower", image=torch.rand(8, 8, 3), elevation=10.0, azimuth=az, radius=2.5,
                     cameras=Cameras.orbit(10.0, az, 2.5, 49.1, 8))


def _run_guidance(losses_fn, n: int) -> None:
    images = torch.rand(n, 8, 8, 3, requires_grad=True)
    losses = losses_fn(images, _condition(n))
    sum(losses.values()).backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_every_guidance_preset_is_tested():
    assert set(list_presets("guidance")) == {"hybrid-4dfy", "mvdream", "stable-zero123", "video-zeroscope",
                                             "zero123-xl"}


@pytest.mark.parametrize("name", [n for n in list_presets("guidance") if n != "hybrid-4dfy"])
def test_guidance_preset_runs(name):
    from motion4d.guidance import GuidanceConfig, build_guidance

    kind = load_config(GuidanceConfig, preset=("guidance", name)).type
    extra = ["video.num_frames=4"] if kind == "video" else []
    cfg = load_config(GuidanceConfig, preset=("guidance", name),
                      overrides=[f"model={_tiny_model(kind)}", "height=8", "width=8", *extra])
    g = build_guidance(cfg)
    spec = g.render_spec
    n = spec.frames if spec.is_clip else spec.views
    for step in (0, 1):
        _run_guidance(lambda images, cond: g(images, cond, step), n)


def test_hybrid_preset_runs():
    from motion4d.guidance import HybridConfig, HybridSDS

    preset = load_config(HybridConfig, preset=("guidance", "hybrid-4dfy"))
    tiny = {name: {**g, "model": _tiny_model(g["type"]), "height": 8, "width": 8,
                   **({"video": {"num_frames": 4}} if g["type"] == "video" else {})}
            for name, g in preset.guidances.items()}
    cfg = HybridConfig(seed=preset.seed, frames=4, guidances=tiny, stages=preset.stages)
    hybrid = HybridSDS(cfg)
    seen = set()
    starts = [0]
    for stage in cfg.stages[:-1]:
        starts.append(starts[-1] + stage["steps"])
    for step in [s + k for s in starts for k in range(3)]:
        plan = hybrid.plan(step)
        n = len(plan.times) if plan.render == "clip" else hybrid.render_spec(plan).views
        _run_guidance(lambda images, cond: hybrid.losses(images, cond, plan), n)
        seen.add(plan.guidance)
    assert "mvdream" in seen and len(seen) >= 2, seen


# ---------------------------------------------------------------------------------------- motion
def test_every_motion_preset_is_tested():
    assert set(list_presets("motion")) == {"gpu_16gb", "gpu_24gb", "multi_images", "multi_videos", "single_image",
                                           "single_video"}


@pytest.mark.parametrize("name", list_presets("motion"))
def test_motion_preset_trains(name, tmp_path_factory, tmp_path):
    from _video_tiny import tiny_model_dir, write_square_video
    from motion4d.video.config import load_train_config
    from motion4d.video.train import train_motion

    model = tiny_model_dir(tmp_path_factory)
    video = write_square_video(tmp_path / "v.mp4", num_frames=6)
    cfg = load_train_config(None, [name], [f"model={model}", f"output_dir={tmp_path / 'run'}", f"data.paths=[{video}]",
                                           "data.caption=lower", "data.num_frames=4", "data.width=32",
                                           "data.height=32", "data.clips_per_video=1", "lora.rank=2", "steps=1",
                                           "checkpoint_every=1", "validation.every=-1"])
    res = train_motion(cfg, show_progress=False)
    assert res.steps == 1 and (res.temporal is not None) == cfg.lora.temporal
    assert (res.spatial is not None) == cfg.lora.spatial
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-000001"]
