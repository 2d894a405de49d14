"""The hybrid route (4D-fy) end to end at toy size on tiny random models: the schedule's draws reach the lift, the
video role is the customized model, a run cut off in its lift resumes to the same result, bad configs and missing
models are one clear error."""
from __future__ import annotations

import json

import pytest
import torch

from _video_tiny import build_tiny_model, moving_square_clip
from motion4d.config import ConfigError
from motion4d.pipelines import HybridTo4DPipeline, load_hybrid_to_4d_config
from motion4d.utils.media import write_video

STAGES = ("stages=[{name: s1, steps: 2, probabilities: {multiview: 1.0}}, "
          "{name: s2, steps: 2, probabilities: {multiview: 0.5, image: 0.5}}, "
          "{name: d, steps: 6, dynamic: true, probabilities: {multiview: 0.3, image: 0.3, video: 0.4}}]")
TOY = ["video.frames=4", "video.width=32", "video.height=32", "customize.steps=2",
       "customize.overrides=[lora.rank=2, checkpoint_every=1]", STAGES,
       "guidance.multiview={height: 8, width: 8}", "lift.preset=demo",
       "lift.overrides=[static.num_points=150, guidance.render_size=16, input.size=32, output.mesh_resolution=12, "
       "output.turntable_views=3, output.video_size=32, output.preview_every=0, output.checkpoint_every=3]"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from motion4d.guidance.tiny import tiny_checkpoint

    root = tmp_path_factory.mktemp("hybrid")
    model = build_tiny_model(root / "t2v")
    ref = write_video((moving_square_clip(8, 32) * 255).byte().numpy(), root / "ref.mp4", fps=8)
    return model, ref, tiny_checkpoint("mvdream")


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    """One torch thread; SD 2.1 base is never 'present' here, so the image role is the video model's stand-in."""
    import motion4d.hub as hub

    real = hub.is_present
    monkeypatch.setattr(hub, "is_present", lambda name: False if name in ("sd21-base", "mvdream") else real(name))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(tiny, *extra, motion=None):
    model, ref, mvdream = tiny
    return load_hybrid_to_4d_config("a red ball jumping", preset="quick", motion=[str(motion or ref)],
                                    overrides=TOY + [f"video.model={model}", f"models.multiview={mvdream}", *extra])


def _field_state(run):
    from motion4d.lift.result import load_result

    res = load_result(run / "lift")
    return {"means": res.canonical.means, **{f"f.{k}": v for k, v in res.field.state_dict().items()}}


@pytest.fixture(scope="module")
def full_run(tiny, tmp_path_factory):
    """One uninterrupted run, with every call of the hybrid guidance recorded."""
    from motion4d.lift.hybrid import HybridLiftGuidance
    from motion4d.video.lora import get_lora

    mp = pytest.MonkeyPatch()
    import motion4d.hub as hub

    real = hub.is_present
    mp.setattr(hub, "is_present", lambda name: False if name in ("sd21-base", "mvdream") else real(name))
    calls, logs = [], []
    original = HybridLiftGuidance.losses

    def record(self, images, condition, plan):
        member = self.members[plan.guidance]
        adapters = set(get_lora(member.unet).adapters) if plan.guidance != "multiview" else set()
        calls.append((plan.step, plan.guidance, tuple(images.shape), adapters))
        return original(self, images, condition, plan)

    mp.setattr(HybridLiftGuidance, "losses", record)
    out = tmp_path_factory.mktemp("runs") / "full"
    try:
        res = HybridTo4DPipeline(_cfg(tiny), log=logs.append)(out)
    finally:
        mp.undo()
    return out, res, calls, logs


def test_hybrid_route_end_to_end_draws_every_role_and_customizes_the_video_model(full_run):
    from motion4d.lift.config import load_lift_config
    from motion4d.lift.hybrid import HybridLiftGuidance

    out, res, calls, logs = full_run
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    assert [s["name"] for s in stages] == ["motion", "appearance", "lift", "export", "evaluate", "report"]
    assert all(s["status"] == "done" for s in stages) and stages[0]["outputs"]["trained"] is True
    assert res.outputs["report"].is_file() and res.outputs["animation"].is_file()
    assert any("SD 2.1 base (image) not present locally" in line and "one frame at a time" in line for line in logs)
    scores = json.loads((out / "scores.json").read_text())
    assert {"front_coverage", "motion_energy", "motion_err_reference", "clip_score"} <= set(scores["scores"])
    assert all(v == v for v in scores["scores"].values()) and "ref_psnr" in scores["skipped"]
    assert 0 <= scores["scores"]["front_coverage"] <= 1

    lcfg = load_lift_config(None, file=out / "lift" / "config.yaml")
    assert (lcfg.static.iters, lcfg.dynamic.iters, lcfg.static.lambda_rgb, lcfg.dynamic.lambda_mask) == (4, 6, 0, 0)
    g = lcfg.guidance.options["guidances"]
    assert g["multiview"]["type"] == "mvdream" and g["image"]["type"] == "video"
    assert g["image"]["video"]["num_frames"] == 1 and g["video"]["video"]["num_frames"] == 4
    lora = str(out / "motion" / "temporal.safetensors")
    assert g["video"]["video"]["lora_path"] == lora == g["image"]["video"]["lora_path"]
    # every call is the draw of its step: multiview renders groups of 4 views, the stand-in one view per frame,
    # the video role one 4-frame clip; the video model carries the run's motion LoRA
    hybrid = HybridLiftGuidance(lcfg.guidance.options)
    static = [hybrid.plan("static", k).guidance for k in range(4)]
    dynamic = [hybrid.plan("dynamic", k).guidance for k in range(6)]
    assert static[:2] == ["multiview"] * 2 and set(static[2:]) <= {"multiview", "image"}
    assert set(static + dynamic) == {"multiview", "image", "video"}
    drawn = {(2 * k, g) for k, g in enumerate(static)} | {(2 * k + 1, g) for k, g in enumerate(dynamic)}
    assert {(key, name) for key, name, _, _ in calls} == drawn          # plan key: 2 step (+1 in the dynamic stage)
    for _, name, shape, adapters in calls:
        assert shape == {"multiview": (4, 16, 16, 3), "image": (1, 16, 16, 3), "video": (4, 16, 16, 3)}[name]
        assert adapters == ({"motion"} if name != "multiview" else set())


def test_hybrid_route_resumes_a_lift_cut_off_half_way_to_the_same_result(tiny, full_run, tmp_path, monkeypatch):
    """Given the full run's motion LoRA (LoRA training is compared elsewhere), a run cut off in the dynamic stage
    keeps its finished stages and resumes its lift from the newest checkpoint to the uninterrupted result."""
    from motion4d.lift.stages import DynamicStage

    lora = full_run[0] / "motion" / "temporal.safetensors"
    HybridTo4DPipeline(_cfg(tiny, motion=lora), log=lambda s: None)(tmp_path / "full")
    original, n = DynamicStage.step, {"calls": 0}

    def crash(self, step, gen):
        n["calls"] += 1
        if n["calls"] == 4:        # dynamic step 3 never ran; the newest checkpoint is global step 6
            raise KeyboardInterrupt
        return original(self, step, gen)

    monkeypatch.setattr(DynamicStage, "step", crash)
    with pytest.raises(KeyboardInterrupt):
        HybridTo4DPipeline(_cfg(tiny, motion=lora), log=lambda s: None)(tmp_path / "run")
    status = {s["name"]: s["status"] for s in json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]}
    assert status["motion"] == "done" and status["lift"] == "failed"
    monkeypatch.setattr(DynamicStage, "step", original)
    logs: list[str] = []
    HybridTo4DPipeline(_cfg(tiny, motion=lora), log=logs.append)(tmp_path / "run")
    assert [line.split(":")[0] for line in logs if "done earlier, kept" in line] == ["stage motion", "stage appearance"]
    assert any("resumed from" in line and "step-000006" in line for line in logs)
    want, got = _field_state(tmp_path / "full"), _field_state(tmp_path / "run")
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


def test_hybrid_bad_configs_and_missing_models_are_one_clear_error(tiny, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"hybrid schedule: stages\[0\] \(s1\): unknown guidance 'sdxl'"):
        _cfg(tiny, "stages=[{name: s1, steps: 2, probabilities: {sdxl: 1.0}}]")
    with pytest.raises(ConfigError, match="static stage cannot use clip guidance"):
        _cfg(tiny, "stages=[{steps: 2, probabilities: {video: 1.0}}]")
    with pytest.raises(ConfigError, match="unknown guidance role"):
        _cfg(tiny, "guidance.mvdream={guidance_scale: 3}")
    with pytest.raises(ConfigError, match="cannot set model"):
        _cfg(tiny, "guidance.video={model: zeroscope}")
    with pytest.raises(ConfigError, match="at least one dynamic"):
        _cfg(tiny, "stages=[{steps: 2, probabilities: {image: 1.0}}]")
    from motion4d.pipelines.hybrid_models import lift_iters

    for preset, iters in (("quick", (120, 120)), ("default", (1000, 1000))):   # shipped presets load and map
        assert lift_iters(load_hybrid_to_4d_config("a ball", preset=preset).stages) == iters
    with pytest.raises(ValueError, match="prompt is empty"):
        HybridTo4DPipeline(load_hybrid_to_4d_config(" ", preset="quick"))
    import motion4d.hub as hub

    monkeypatch.setattr(hub, "is_present", lambda name: False)
    cfg = load_hybrid_to_4d_config("a ball", preset="quick")
    with pytest.raises(hub.ModelNotFoundError, match="download ashawkey/mvdream-sd2.1-diffusers.*\n.*"
                                                     "stable-diffusion-2-1-base.*\n.*zeroscope"):
        HybridTo4DPipeline(cfg, log=lambda s: None)(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_route_hybrid_reads_the_hybrid_config(tmp_path, capsys):
    from motion4d.cli import main

    assert main(["text-to-4d", "a ball", "--route", "hybrid", "--preset", "quick", "--out", str(tmp_path / "r"),
                 "weights.sdxl=1"]) == 2
    assert "weights: unknown guidance role(s) sdxl; roles: multiview, image, video" in capsys.readouterr().err
    assert main(["text-to-4d", "a ball", "--preset", "quick", "--out", str(tmp_path / "r"), "weights.video=1"]) == 2
    assert "unknown config key 'weights'" in capsys.readouterr().err       # the clip route has no hybrid schedule
    assert not (tmp_path / "r").exists()
