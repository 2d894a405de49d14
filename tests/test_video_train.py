"""train-motion: presets, config errors, exact resume, and the CLI end to end (train -> generate)."""
import json

import pytest
import torch

from _video_tiny import tiny_model_dir, write_square_video
from motion4d.config import ConfigError, list_presets
from motion4d.video.config import load_train_config


def test_presets_load_and_combine():
    assert {"single_video", "multi_videos", "multi_images", "single_image", "gpu_16gb",
            "gpu_24gb"} <= set(list_presets("motion"))
    for name in list_presets("motion"):
        load_train_config(None, [name])
    cfg = load_train_config(None, ["single_video", "gpu_24gb"], ["steps=20", "data.paths=[a.mp4]"])
    assert (cfg.steps, cfg.data.num_frames, cfg.data.width, cfg.weight_decay) == (20, 24, 576, 1e-2)
    assert load_train_config(None, ["multi_images"]).lora.temporal is False
    with pytest.raises(ConfigError, match="unknown config key 'stepz'"):
        load_train_config(None, [], ["stepz=3"])
    with pytest.raises(ConfigError, match="mixed_precision='fp8' is not allowed"):
        load_train_config(None, [], ["mixed_precision=fp8"])
    with pytest.raises(ConfigError, match="unknown motion preset 'nope'"):
        load_train_config(None, ["nope"])


def _cfg(model, video, out, steps, extra=()):
    return load_train_config(None, [], [f"model={model}", f"output_dir={out}", f"data.paths=[{video}]",
                                        "data.caption=lower", "data.num_frames=4", "data.width=32",
                                        "data.height=32", "data.clips_per_video=1", "lora.rank=2",
                                        f"steps={steps}", "checkpoint_every=2", "validation.every=-1", "lr=1e-2",
                                        "lora.dropout=0.1", *extra])


def test_resume_continues_exactly(tmp_path_factory, tmp_path):
    from safetensors.torch import load_file

    from motion4d.video.train import train_motion

    model = tiny_model_dir(tmp_path_factory)
    video = write_square_video(tmp_path / "v.mp4", num_frames=6)
    full = train_motion(_cfg(model, video, tmp_path / "full", 4), show_progress=False)
    train_motion(_cfg(model, video, tmp_path / "half", 2), show_progress=False)
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        train_motion(_cfg(model, video, tmp_path / "half", 4), show_progress=False)
    resumed = train_motion(_cfg(model, video, tmp_path / "half", 4), resume=True, show_progress=False)
    for kind in ("temporal", "spatial"):
        a, b = load_file(str(getattr(full, kind))), load_file(str(getattr(resumed, kind)))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), kind
    log = [json.loads(x) for x in resumed.log.read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="no checkpoint"):
        train_motion(_cfg(model, video, tmp_path / "fresh", 2), resume=True, show_progress=False)


def test_cli_train_then_generate(tmp_path_factory, tmp_path, capsys):
    from motion4d.cli import main

    model = tiny_model_dir(tmp_path_factory)
    video = write_square_video(tmp_path / "v.mp4", num_frames=6)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"model: {model}\noutput_dir: {tmp_path / 'run'}\ndata:\n  paths: [{video}]\n  caption: lower\n"
                   f"  num_frames: 4\n  width: 32\n  height: 32\n  clips_per_video: 1\nlora:\n  rank: 2\n"
                   f"validation:\n  every: 0\n  steps: 2\n  noise_prior: 0.5\n")
    assert main(["train-motion", "--config", str(cfg), "--preset", "single_video", "steps=2"]) == 0
    out = capsys.readouterr().out
    assert "motion (temporal) LoRA" in out and "temporal.safetensors" in out
    assert (tmp_path / "run" / "samples" / "step-000002" / "video.mp4").is_file()
    assert main(["generate-video", "lower", "--model", str(model), "--motion", str(tmp_path / "run"),
                 "--appearance", str(tmp_path / "run" / "spatial.safetensors"), "--noise-prior", "0.3",
                 "--noise-prior-video", str(tmp_path / "run" / "cache" / "clip-0000.safetensors"), "--seed", "1",
                 "--frames", "4", "--width", "32", "--height", "32", "--steps", "2", "--out",
                 str(tmp_path / "gen")]) == 0
    out = capsys.readouterr().out
    assert "seed 1" in out and str(tmp_path / "gen" / "video.mp4") in out
    settings = json.loads((tmp_path / "gen" / "settings.json").read_text())
    assert set(settings["adapters"]) == {"motion", "appearance"} and settings["noise_prior"] == 0.3
    # user errors: one line, exit code 2, before any model loads
    assert main(["generate-video", "x", "--out", str(tmp_path / "g2"), "--motion",
                 str(tmp_path / "run" / "spatial.safetensors"), "--model", str(model)]) == 2
    assert "is a spatial LoRA; pass it with --appearance" in capsys.readouterr().err
    assert main(["generate-video", "x", "--out", str(tmp_path / "g3"), "--noise-prior", "0.5"]) == 2
    assert "--noise-prior-video" in capsys.readouterr().err
    assert main(["train-motion", "data.paths=[/nonexistent/clip.mp4]"]) == 2
    assert "'/nonexistent/clip.mp4' does not exist" in capsys.readouterr().err


def test_a_non_finite_loss_stops_with_the_step_and_where_to_resume(tmp_path_factory, tmp_path, monkeypatch):
    """Issue #16: a diverged train-motion step is one clear ValueError (one line at the CLI), not a traceback, and
    nothing is saved after it."""
    from motion4d.video import train as train_mod

    original = train_mod._Trainer.step
    calls = []

    def diverging(self):
        logs = original(self)
        calls.append(1)
        return {**logs, "loss_temporal": float("nan")} if len(calls) == 2 else logs

    monkeypatch.setattr(train_mod._Trainer, "step", diverging)
    model = tiny_model_dir(tmp_path_factory)
    video = write_square_video(tmp_path / "v.mp4", num_frames=6)
    with pytest.raises(ValueError, match=r"diverged at step 2: non-finite \{'loss_temporal': nan\}.*--resume.*checkpoints"):
        train_mod.train_motion(_cfg(model, video, tmp_path / "run", 4), show_progress=False)
    assert not (tmp_path / "run" / "temporal.safetensors").exists()
