"""The video-backbone protocol and registry; the one LoRA loading path for files from other tools."""
import json

import pytest
import torch

from _video_tiny import load_tiny, unet_out


def test_unet3d_backbone_implements_the_protocol(bb):
    from motion4d.video.backbones import BACKBONES, UNet3DBackbone, VideoBackbone
    from motion4d.video.lora import PATH_TARGETS

    assert isinstance(bb, UNet3DBackbone) and isinstance(bb, VideoBackbone)
    assert list(BACKBONES) == ["unet3d"]
    assert bb.denoiser is bb.unet and bb.lora_targets == PATH_TARGETS
    assert bb.temporal_compression == 1 and bb.prediction_type == "epsilon"
    assert bb.latent_shape(2, 5, 32, 32) == (2, 4, 5, 16, 16)
    z = torch.randn(1, 4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    text = bb.encode_prompt("lower")
    with torch.no_grad():
        torch.testing.assert_close(bb.predict(z, 500, text), unet_out(bb, z, 500, "lower"), rtol=0, atol=0)
    frames = torch.rand(3, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    lat = bb.encode_frames(frames, sample=False)
    assert lat.shape == bb.latent_shape(1, 3, 32, 32)
    assert bb.decode_latents(lat).shape == (1, 3, 32, 32, 3)


def test_registry_detects_the_kind_and_names_what_is_allowed(tmp_path, tmp_path_factory):
    from _video_tiny import tiny_model_dir

    from motion4d.video.backbones import backbone_class, load_backbone

    with pytest.raises(ValueError, match="unknown video backbone kind 'wan'; registered: unet3d"):
        backbone_class("wan")
    folder = tmp_path / "dit"
    for sub in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        (folder / sub).mkdir(parents=True)
    (folder / "unet" / "config.json").write_text(json.dumps({"_class_name": "WanTransformer3DModel"}))
    with pytest.raises(ValueError, match="no registered backbone .*unet3d.* recognises"):
        load_backbone(str(folder), device="cpu")
    assert type(load_backbone(str(tiny_model_dir(tmp_path_factory)), device="cpu")).__name__ == "UNet3DBackbone"


def test_peft_style_file_loads_through_the_one_path(bb, tmp_path):
    """A LoRA saved by plain peft (other tools' layout) loads through load_lora_file and equals the original."""
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
    from safetensors.torch import save_file

    from motion4d.video.checkpoint import load_lora_file
    from motion4d.video.lora import get_lora, target_module_names

    src = load_tiny(bb.path)
    layers = target_module_names(src.unet, "temporal")[:3]  # a subset of the temporal layers
    torch.manual_seed(0)
    inject_adapter_in_model(LoraConfig(r=2, lora_alpha=4, target_modules=layers, init_lora_weights=False),
                            src.unet, adapter_name="x")
    state = {"base_model.model." + k: v for k, v in get_peft_model_state_dict(src.unet, adapter_name="x").items()}
    file = tmp_path / "peft.safetensors"
    save_file(state, str(file), metadata={"lora_alpha": "4"})
    z = torch.randn(1, 4, 2, 16, 16, generator=torch.Generator().manual_seed(2))
    want = unet_out(src, z)
    dst = load_tiny(bb.path)
    base = unet_out(dst, z)
    info = load_lora_file(dst.unet, file, model_id=dst.model_id, scale=1.0)
    assert info.name == "motion" and info.path == "temporal" and info.rank == 2 and info.alpha == 4.0
    assert sorted(get_lora(dst.unet).layers("motion")) == sorted(layers)
    torch.testing.assert_close(unet_out(dst, z), want, rtol=0, atol=1e-6)
    get_lora(dst.unet).set_scale("motion", 0.0)
    torch.testing.assert_close(unet_out(dst, z), base, rtol=0, atol=0)
    # a file spanning both paths is refused with the reason
    mixed = dict(state)
    spatial = target_module_names(dst.unet, "spatial")[0]
    layer = load_tiny(bb.path).unet.get_submodule(spatial)
    mixed[f"{spatial}.lora_A.weight"] = torch.zeros(2, layer.in_features)
    mixed[f"{spatial}.lora_B.weight"] = torch.zeros(layer.out_features, 2)
    save_file(mixed, str(tmp_path / "mixed.safetensors"))
    with pytest.raises(ValueError, match="outside one LoRA path"):
        load_lora_file(load_tiny(bb.path).unet, tmp_path / "mixed.safetensors", model_id="x")
