"""motion4d.zoo: seed splits, exact resume, the shipped tiny models (load by key, quality), damaged weights."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from motion4d.hub import ModelNotFoundError, model_info, resolve_pretrained
from motion4d.zoo import ZOO, NotTrainedError, ShippedWeightsError, check_shipped, shipped_folder, task_module, train
from motion4d.zoo.data import SPLITS, StillSpec, render_stills, split_seed, to_rgb

SHIPPED = ["tiny-vae", "tiny-clip", "tiny-t2v"]
# measured figures (notes/zoo.md) minus a margin; the CI check uses fewer images than the benchmark
#: a little under the shipped figures on these small samples (tiny-vae step 2200: 30.86 dB on 8 test scenes)
#: tiny-t2v step 460 on 72 test samples: present 0.78, colour 0.39 (chance 0.1); floors for its 16-sample CI check
FLOORS = {"tiny-vae": 28.0, "tiny-clip": 0.4, "tiny-t2v": {"present": 0.5, "colour_acc": 0.2}}


def test_splits_are_disjoint_and_checked():
    ranges = sorted(SPLITS.values())
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
    assert split_seed("test", 0) == SPLITS["test"][0]
    with pytest.raises(ValueError, match="not one of"):
        split_seed("validation", 0)
    with pytest.raises(ValueError, match="outside split 'dev'"):
        split_seed("dev", SPLITS["dev"][1] - SPLITS["dev"][0])


def test_stills_are_deterministic_and_cached(tmp_path):
    spec = StillSpec(size=32, per_scene=2, num_points=200)
    a, meta = render_stills("dev", 2, spec, cache_dir=tmp_path, show_progress=False)
    assert a.shape == (4, 32, 32, 4) and a.dtype.name == "uint8"
    assert [m["seed"] for m in meta] == [SPLITS["dev"][0]] * 2 + [SPLITS["dev"][0] + 1] * 2
    assert meta[0]["camera"] == "ref" and {"color", "noun", "kind", "caption"} <= set(meta[0])
    assert len(list(tmp_path.glob("stills-dev-*.npz"))) == 1
    b, _ = render_stills("dev", 2, spec, cache_dir=tmp_path, show_progress=False)
    assert (a == b).all()
    rgb = to_rgb(a[:1])
    assert rgb.shape == (1, 3, 32, 32) and float(rgb.max()) <= 1.0


class _ToyTask:
    """A tiny task with the zoo interface: regress random targets with a 2-layer MLP."""

    KEY = "toy"
    defaults = {"steps": 6, "batch": 4, "lr": 1e-2, "warmup": 2, "ckpt_every": 2, "log_every": 1}

    @staticmethod
    def build(cfg, device):
        return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    @staticmethod
    def prepare(cfg, model, cache_dir, device, show_progress=True):
        return {"x": torch.randn(32, 3, generator=torch.Generator().manual_seed(5))}

    @staticmethod
    def loss(cfg, model, data, gen, device):
        idx = torch.randint(0, 32, (int(cfg["batch"]),), generator=gen)
        noise = torch.randn(int(cfg["batch"]), 1, generator=gen)
        return ((model(data["x"][idx]) - data["x"][idx].sum(1, keepdim=True) - 0.1 * noise) ** 2).mean(), {}

    @staticmethod
    def export(cfg, model, data, folder):
        folder.mkdir(parents=True, exist_ok=True)


def _weights(out):
    from safetensors.torch import load_file

    return load_file(str(out / "checkpoint" / "model.safetensors"))


_TINY_VAE = {"steps": 4, "ckpt_every": 2, "log_every": 1, "warmup": 2, "channels": "8,8,8", "scenes": 2,
             "per_scene": 1, "batch": 2}


_TINY_ZERO123 = {"steps": 3, "ckpt_every": 2, "log_every": 1, "warmup": 2, "channels": "8,16,16", "heads": 2,
                 "scenes": 2, "targets": 2, "batch": 2}


_TINY_SVD = {"steps": 3, "ckpt_every": 2, "log_every": 1, "warmup": 2, "channels": "32,32", "heads": "1,1",
             "clips": 2, "batch": 2}


@pytest.mark.parametrize("task,cfg", [(_ToyTask, {}), ("tiny-vae", _TINY_VAE), ("tiny-zero123", _TINY_ZERO123),
                                      ("tiny-svd", _TINY_SVD)], ids=["toy", "tiny-vae", "tiny-zero123", "tiny-svd"])
def test_interrupted_and_resumed_training_equals_one_run(tmp_path, task, cfg):
    task = task_module(task) if isinstance(task, str) else task
    full, part = tmp_path / "full", tmp_path / "part"
    steps = cfg.get("steps", 6)
    train(task, full, cfg, show_progress=False, threads=None)
    train(task, part, {**cfg, "steps": 2}, show_progress=False, threads=None)     # "interrupted" after 2 steps
    with pytest.raises(FileExistsError, match="--resume"):
        train(task, part, cfg, show_progress=False, threads=None)
    train(task, part, {"steps": steps}, resume=True, show_progress=False, threads=None)
    a, b = _weights(full), _weights(part)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [json.loads(line)["loss"] for line in (part / "log.jsonl").read_text().splitlines()]
    assert losses == [json.loads(line)["loss"] for line in (full / "log.jsonl").read_text().splitlines()]


def test_unknown_recipe_key_and_untrained_rows():
    with pytest.raises(ValueError, match="unknown recipe key 'stepz'"):
        train(_ToyTask, "/nonexistent/never-made", {"stepz": 3}, show_progress=False, threads=None)
    from dataclasses import replace

    import motion4d.zoo.registry as registry

    rows = {**ZOO, "tiny-svd": replace(ZOO["tiny-svd"], module=None)}          # a row without a recipe
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "ZOO", rows)
        with pytest.raises(NotTrainedError, match="tiny-svd is not trained yet"):
            task_module("tiny-svd")
    for key in ("tiny-zero123", "tiny-svd"):                                    # recipes without shipped weights
        if not shipped_folder(key).is_dir():
            with pytest.raises(ModelNotFoundError, match=f"(?s){key}.*motion4d zoo train {key}"):
                resolve_pretrained(key)


def test_every_tiny_key_is_in_the_model_table():
    for key in ZOO:
        info = model_info(key)
        assert info is not None and info.builtin == f"assets/zoo/{key}"
        assert "motion4d zoo train" in info.download_command


@pytest.mark.parametrize("key", SHIPPED)
def test_shipped_model_loads_by_key_offline(key, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_pretrained(key)
    assert folder == shipped_folder(key)
    if key == "tiny-vae":
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(folder)
        assert vae.config.latent_channels == 4 and len(vae.config.block_out_channels) == 3   # factor 4
    elif key == "tiny-clip":
        from transformers import CLIPModel, CLIPTokenizer

        model, tok = CLIPModel.from_pretrained(folder), CLIPTokenizer.from_pretrained(folder)
        assert model.config.vision_config.image_size == 64
        assert len(tok("a red cube", add_special_tokens=False)["input_ids"]) == 3
    elif key == "tiny-t2v":
        from motion4d.video.backbones import load_backbone

        bb = load_backbone(key, device="cpu")
        assert bb.vae_scale_factor == 4 and bb.scheduler_config["prediction_type"] == "v_prediction"


@pytest.mark.parametrize("key", [k for k in SHIPPED if k in FLOORS])
def test_shipped_model_quality_on_test_seeds(key):
    from motion4d.zoo import evaluate_model

    if key == "tiny-vae":
        res = evaluate_model(key, overrides={"eval_scenes": 8})
        assert res["psnr_db"] >= FLOORS[key], res
    elif key == "tiny-t2v":                 # 8 test prompts x 2 seeds, 20 DDIM steps
        res = evaluate_model(key, overrides={"eval_prompts": 8, "eval_direction": 0})
        assert all(res[name] >= floor for name, floor in FLOORS[key].items()), res
    else:
        res = evaluate_model(key, overrides={"eval_scenes": 20})
        assert res["colour_acc"] >= FLOORS[key], res


@pytest.mark.parametrize("key", SHIPPED)
def test_missing_or_damaged_shipped_file_is_named(key, tmp_path):
    folder = tmp_path / key
    shutil.copytree(shipped_folder(key), folder)
    check_shipped(key, folder)
    weights = next(f for f in task_module(key).FILES if f.endswith(".safetensors"))
    (folder / weights).write_bytes(b"\x00" * 64)
    with pytest.raises(ShippedWeightsError, match=weights.replace(".", r"\.") + ".*damaged"):
        check_shipped(key, folder)
    (folder / weights).unlink()
    with pytest.raises(ShippedWeightsError, match=weights.replace(".", r"\.") + ".*missing"):
        check_shipped(key, folder)


def test_t2v_recipe_exports_a_backbone_folder(tmp_path):
    """A 1-step tiny-t2v run on the shipped tiny-vae and tiny-clip exports a folder that motion4d's video loader
    samples from (the TextToVideoSD layout, v-prediction, factor-4 VAE)."""
    from motion4d.video.backbones import load_backbone
    from motion4d.video.sampling import sample_video

    out = tmp_path / "t2v"
    train(task_module("tiny-t2v"), out, {"steps": 1, "clips": 2, "frames": 4, "batch": 2, "channels": "8,16"},
          show_progress=False, threads=None)
    check_shipped("tiny-t2v", out / "model")
    bb = load_backbone(out / "model", device="cpu")
    assert bb.vae_scale_factor == 4 and bb.scheduler_config["prediction_type"] == "v_prediction"
    clip = sample_video(bb, "a red ball moving to the left", num_frames=4, width=64, height=64, steps=1, seed=0,
                        show_progress=False)
    assert clip.frames.shape == (1, 4, 64, 64, 3)
