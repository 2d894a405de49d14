"""text-to-4d with lift.video_sds: the dynamic stage is supervised by the customized text-to-video model (the run's
motion LoRA on the clip model) and the novel-view guidance, one per step as the hybrid schedule draws."""
from __future__ import annotations

import json

import pytest
import torch

from _video_tiny import build_tiny_model, moving_square_clip
from motion4d.config import ConfigError
from motion4d.pipelines import TextTo4DPipeline, load_text_to_4d_config
from motion4d.utils.media import write_video

LIFT = ("lift.overrides=[static.iters=2, static.num_points=200, dynamic.iters=6, dynamic.frames_per_step=2, "
        "dynamic.sds_views_per_frame=1, guidance.render_size=16, input.size=32, output.mesh_resolution=12, "
        "output.turntable_views=3, output.video_size=32, output.preview_every=0, output.checkpoint_every=2]")
TOY = ["clip.frames=4", "clip.width=32", "clip.height=32", "clip.steps=2", "customize.steps=2",
       "customize.overrides=[lora.rank=2, checkpoint_every=1]", "lift.preset=demo", LIFT,
       "lift.novel_view_options={height: 8, width: 8}", "lift.video_sds=true", "lift.video_sds_probability=0.5",
       "lift.video_sds_weight=0.5"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from motion4d.guidance.tiny import tiny_checkpoint

    root = tmp_path_factory.mktemp("t2-4d-vsds")
    model = build_tiny_model(root / "model")
    index = json.loads((model / "model_index.json").read_text())
    index["motion4d"] = {"background": [0.1, 0.1, 0.3]}
    (model / "model_index.json").write_text(json.dumps(index))
    ref = write_video((moving_square_clip(8, 32) * 255).byte().numpy(), root / "ref.mp4", fps=8)
    return model, ref, tiny_checkpoint("zero123")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(tiny, *extra, motion=True):
    model, ref, zero123 = tiny
    return load_text_to_4d_config("a red ball jumping", preset="quick", motion=[str(ref)] if motion else None,
                                  overrides=TOY + [f"clip.model={model}", f"lift.novel_view={zero123}", *extra])


def test_video_sds_supervises_the_dynamic_stage_with_the_customized_model(tiny, tmp_path, monkeypatch):
    from motion4d.lift.hybrid import HybridLiftGuidance
    from motion4d.lift.config import load_lift_config
    from motion4d.video.lora import get_lora

    calls, adapters = [], set()
    original = HybridLiftGuidance.losses

    def record(self, images, condition, plan):
        calls.append((plan.stage, plan.stage_step, plan.guidance, tuple(images.shape)))
        if plan.guidance == "video":
            adapters.update(get_lora(self.members["video"].unet).adapters)
        return original(self, images, condition, plan)

    monkeypatch.setattr(HybridLiftGuidance, "losses", record)
    res = TextTo4DPipeline(_cfg(tiny), log=lambda s: None)(tmp_path / "run")
    stages = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    assert [s["status"] for s in stages] == ["done"] * 8 and res.outputs["animation"].is_file()

    lcfg = load_lift_config(None, file=tmp_path / "run" / "lift" / "config.yaml")
    assert lcfg.guidance.kind == "hybrid"
    video = lcfg.guidance.options["guidances"]["video"]
    assert video["video"]["lora_path"] == str(tmp_path / "run" / "motion" / "temporal.safetensors")
    assert (video["model"], video["height"], video["video"]["num_frames"]) == (str(tiny[0]), 32, 4)
    assert adapters == {"motion"}                      # the customized model: base + the run's motion LoRA
    # the dynamic stage called exactly the guidance the schedule drew at each step, and drew both
    plan = HybridLiftGuidance(lcfg.guidance.options).plan
    drawn = [plan("dynamic", k).guidance for k in range(6)]
    assert set(drawn) == {"novel_view", "video"}, drawn
    dyn = [c for c in calls if c[0] == "dynamic"]
    assert sorted({(k, g) for _, k, g, _ in dyn}) == list(enumerate(drawn))
    for _, k, g, shape in dyn:   # a video draw renders one 4-frame clip, a novel-view draw one view per frame
        assert shape == ((4, 16, 16, 3) if g == "video" else (1, 16, 16, 3))
    assert sum(g == "novel_view" for _, _, g, _ in dyn) == 2 * drawn.count("novel_view")
    assert {g for s, _, g, _ in calls if s == "static"} == {"novel_view"}


def test_video_sds_bad_configs_are_one_clear_error(tiny):
    with pytest.raises(ValueError, match="lift.video_sds=true .* needs a motion: pass --motion"):
        TextTo4DPipeline(_cfg(tiny, motion=False))
    with pytest.raises(ConfigError, match="lift.novel_view='zero124' is not auto, none, a guidance type"):
        _cfg(tiny, "lift.novel_view=zero124")
    with pytest.raises(ConfigError, match="lift.video_sds_options: .*guidance_scal"):
        _cfg(tiny, "lift.video_sds_options={guidance_scal: 5}")
    with pytest.raises(ConfigError, match="cannot set model"):
        _cfg(tiny, "lift.video_sds_options={model: zeroscope}")
    with pytest.raises(ConfigError, match="set the lift's guidance, which lift.video_sds builds"):
        _cfg(tiny, "lift.overrides=['guidance.options={height: 8}', dynamic.iters=3]")
    with pytest.raises(ConfigError, match="video_sds_probability must be in"):
        _cfg(tiny, "lift.video_sds_probability=0")
