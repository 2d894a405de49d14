"""The temporal LoRA's optional temporal convolutions (``lora.temporal_convs``): which layers, file format v2,
loading (old and new files), generation, training."""
import json

import pytest
import torch

from _video_tiny import load_tiny, single_thread, tiny_model_dir, unet_out, write_square_video
from motion4d.video.lora import DualPathLoRA, get_lora, target_module_names

_one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


def _temporal_convs(unet) -> set[str]:
    """Every Conv3d inside a diffusers TemporalConvLayer, found by type (not by the regex under test)."""
    from diffusers.models.resnet import TemporalConvLayer

    return {f"{name}.{sub}" for name, layer in unet.named_modules() if isinstance(layer, TemporalConvLayer)
            for sub, m in layer.named_modules() if isinstance(m, torch.nn.Conv3d)}


def _zero_linear_b(lora, name):
    """Zero lora_B of every Linear layer of adapter ``name``: only its conv layers still act."""
    for layer in lora.layers(name).values():
        if isinstance(layer.get_base_layer(), torch.nn.Linear):
            torch.nn.init.zeros_(layer.lora_B[name].weight)


def test_convs_adapt_exactly_the_temporal_conv3d_layers(model_dir):
    bb = load_tiny(model_dir)
    convs = _temporal_convs(bb.unet)
    assert len(convs) == 8 * 4                          # 8 TemporalConvLayers x conv1..conv4 in the tiny UNet
    plain = target_module_names(bb.unet, "temporal")
    with_convs = target_module_names(bb.unet, "temporal", convs=True)
    assert set(with_convs) == set(plain) | convs and not set(plain) & convs
    lora = DualPathLoRA(bb.unet)
    lora.add("motion", "temporal", rank=2, convs=True)
    lora.add("looks", "spatial", rank=2)
    adapted = set(lora.layers("motion"))
    assert adapted == set(with_convs) and lora.adapters["motion"].convs
    spatial_convs = {n for n, m in bb.unet.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert spatial_convs and not adapted & spatial_convs and not set(lora.layers("looks")) & convs
    a = lora.layers("motion")["down_blocks.0.temp_convs.0.conv1.2"].lora_A["motion"].weight
    assert a.shape == (2, 8, 3, 1, 1)                   # peft's conv LoRA: A carries the (3, 1, 1) kernel
    # the default (MotionDirector's targets) is unchanged: no convolution
    lora.add("plain", "temporal", rank=2)
    assert set(lora.layers("plain")) == set(plain)
    with pytest.raises(ValueError, match="spatial path has no convolutions"):
        lora.add("x", "spatial", convs=True)


@pytest.fixture(scope="module")
def conv_file(model_dir, tmp_path_factory):
    """A random temporal conv LoRA whose Linear parts are zero (so any effect is the convolutions')."""
    from motion4d.video.checkpoint import save_adapter

    bb = load_tiny(model_dir)
    x = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    base = unet_out(bb, x)
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(3)
    lora.add("temporal", "temporal", rank=3, init="random", convs=True)
    _zero_linear_b(lora, "temporal")
    out = unet_out(bb, x)
    file = save_adapter(bb.unet, "temporal", tmp_path_factory.mktemp("convlora") / "temporal.safetensors",
                        base_model=bb.model_id)
    return {"file": file, "x": x, "base": base, "out": out}


def test_conv_lora_saves_as_version_2_and_loads_identically(model_dir, conv_file):
    from safetensors import safe_open

    from motion4d.video.checkpoint import load_lora, read_lora

    assert (conv_file["out"] - conv_file["base"]).abs().max() > 1e-4      # the convolutions alone change the output
    with safe_open(str(conv_file["file"]), framework="pt") as f:
        meta = f.metadata()
    assert (meta["format_version"], meta["convs"]) == ("2", "true")
    ck = read_lora(conv_file["file"])
    assert ck.convs and sum(v.ndim == 5 for v in ck.tensors.values()) == 2 * 32
    bb = load_tiny(model_dir)
    info = load_lora(bb.unet, conv_file["file"], model_id=bb.model_id)
    assert info.convs and torch.equal(unet_out(bb, conv_file["x"]), conv_file["out"])
    with get_lora(bb.unet).disabled():
        assert torch.equal(unet_out(bb, conv_file["x"]), conv_file["base"])


def test_version_1_files_still_load_and_cannot_hold_convolutions(model_dir, conv_file, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from motion4d.video.checkpoint import load_lora, read_lora, save_adapter

    bb = load_tiny(model_dir)
    lora = DualPathLoRA(bb.unet)
    lora.add("temporal", "temporal", rank=2, init="random")
    old = save_adapter(bb.unet, "temporal", tmp_path / "old.safetensors", base_model=bb.model_id)
    with safe_open(str(old), framework="pt") as f:
        meta = f.metadata()
    assert meta["format_version"] == "1" and "convs" not in meta     # what motion4d has always written
    out = unet_out(bb, conv_file["x"])
    fresh = load_tiny(model_dir)
    assert not load_lora(fresh.unet, old, model_id=fresh.model_id).convs
    assert torch.equal(unet_out(fresh, conv_file["x"]), out)
    # a conv LoRA relabelled as version 1 is refused (version 1 holds Linear layers only)
    with safe_open(str(conv_file["file"]), framework="pt") as f:
        meta = dict(f.metadata())
    meta["format_version"] = "1"
    bad = tmp_path / "relabelled.safetensors"
    save_file(load_file(str(conv_file["file"])), str(bad), metadata=meta)
    with pytest.raises(ValueError, match="temp_convs.*do not match its rank"):
        read_lora(bad)
    meta["format_version"] = "3"
    save_file(load_file(str(conv_file["file"])), str(bad), metadata=meta)
    with pytest.raises(ValueError, match="format version '3'.*reads versions 1, 2"):
        read_lora(bad)


def test_generation_applies_the_conv_lora(model_dir, conv_file, tmp_path):
    from motion4d.video.generate import generate_video

    bb = load_tiny(model_dir)
    kw = dict(backbone=bb, seed=1, num_frames=4, width=32, height=32, steps=2, guidance=1.0, show_progress=False)
    base = generate_video("lower", tmp_path / "base", **kw)
    motion = generate_video("lower", tmp_path / "motion", motion=conv_file["file"], **kw)
    again = generate_video("lower", tmp_path / "again", **kw)
    assert (motion.frames - base.frames).abs().max() > 1e-3
    assert torch.equal(again.frames, base.frames)             # the adapter was removed after the call
    assert motion.settings["adapters"]["motion"]["file"] == str(conv_file["file"])


def test_train_motion_option_trains_and_saves_the_convolutions(model_dir, tmp_path):
    from motion4d.config import ConfigError, load_config
    from motion4d.video.checkpoint import read_lora
    from motion4d.video.config import TrainMotionConfig
    from motion4d.video.train import train_motion

    video = write_square_video(tmp_path / "square.mp4", num_frames=6)
    data = {"model": str(model_dir), "output_dir": str(tmp_path / "run"), "seed": 0,
            "data": {"paths": [str(video)], "caption": "lower", "num_frames": 4, "width": 32, "height": 32,
                     "clips_per_video": 1},
            "lora": {"rank": 2, "dropout": 0.0, "spatial": False, "temporal_convs": True}, "steps": 2, "lr": 1e-2,
            "validation": {"every": -1}}
    res = train_motion(load_config(TrainMotionConfig, data=data), backbone=load_tiny(model_dir),
                       show_progress=False)
    ck = read_lora(res.temporal)
    conv_b = {k: v for k, v in ck.tensors.items() if ".temp_convs." in k and k.endswith("lora_B.weight")}
    assert ck.convs and len(conv_b) == 32 and all(v.abs().max() > 0 for v in conv_b.values())
    assert json.loads((tmp_path / "run" / "result.json").read_text())["temporal"] == str(res.temporal)
    assert not TrainMotionConfig().lora.temporal_convs                     # default unchanged
    with pytest.raises(ConfigError, match="lora.temporal_convs is true but lora.temporal is false"):
        load_config(TrainMotionConfig, data={"lora": {"temporal": False, "temporal_convs": True}})


def test_peft_style_files_with_conv_layers_load_as_conv_loras(model_dir, conv_file, tmp_path):
    """A LoRA from another tool (plain peft keys, no motion4d metadata) that adapts temporal convolutions."""
    from safetensors.torch import load_file, save_file

    from motion4d.video.checkpoint import load_lora_file

    plain = tmp_path / "peft.safetensors"
    save_file({f"base_model.model.{k}": v for k, v in load_file(str(conv_file["file"])).items()}, str(plain))
    bb = load_tiny(model_dir)
    info = load_lora_file(bb.unet, plain, model_id=bb.model_id)
    assert (info.path, info.convs, info.name) == ("temporal", True, "motion")
    assert torch.allclose(unet_out(bb, conv_file["x"]), conv_file["out"], atol=1e-6)
