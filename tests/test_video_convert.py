"""MotionDirector import: a file in its exact format converts and reproduces the outputs; mismatches are refused."""
import pytest
import torch

from _video_tiny import load_tiny, tiny_model_dir, unet_out
from motion4d.video.lora import DualPathLoRA


def _md_list(lora, name):
    """MotionDirector's saved format: [up_0, down_0, up_1, down_1, ...] nn.Parameters in traversal order."""
    out = []
    for layer in lora.layers(name).values():
        out += [torch.nn.Parameter(layer.lora_B[name].weight.detach().clone()),
                torch.nn.Parameter(layer.lora_A[name].weight.detach().clone())]
    return out


@pytest.fixture(scope="module")
def md_checkpoint(tmp_path_factory):
    folder = tiny_model_dir(tmp_path_factory)
    bb = load_tiny(folder)
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(3)
    lora.add("spatial", "spatial", rank=4, init="random")
    lora.add("temporal", "temporal", rank=4, init="random")
    run = tmp_path_factory.mktemp("md") / "train_2024"
    ckpt = run / "checkpoint-150"
    for kind in ("spatial", "temporal"):
        (ckpt / kind / "lora").mkdir(parents=True)
        torch.save(_md_list(lora, kind), ckpt / kind / "lora" / "150_unet.pt")
    (run / "cached_latents").mkdir()
    torch.save({"latents": torch.randn(1, 4, 4, 16, 16), "text_prompt": ["lower"]},
               run / "cached_latents" / "cached_0.pt")
    x = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return {"folder": folder, "ckpt": ckpt, "x": x, "out": unet_out(bb, x)}


def test_converted_motiondirector_checkpoint_reproduces_outputs(md_checkpoint, tmp_path):
    from motion4d.cli import main
    from motion4d.video.checkpoint import load_lora, read_lora
    from motion4d.video.data import load_cached_clip

    out = tmp_path / "converted"
    assert main(["convert-motiondirector", str(md_checkpoint["ckpt"]), str(out),
                 "--base-model", str(md_checkpoint["folder"])]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["reference.safetensors", "spatial.safetensors",
                                                     "temporal.safetensors"]
    bb = load_tiny(md_checkpoint["folder"])
    base = unet_out(bb, md_checkpoint["x"])
    load_lora(bb.unet, out / "temporal.safetensors", model_id=bb.model_id)
    load_lora(bb.unet, out / "spatial.safetensors", model_id=bb.model_id)
    assert torch.equal(unet_out(bb, md_checkpoint["x"]), md_checkpoint["out"])
    assert (base - md_checkpoint["out"]).abs().max() > 1e-4
    ck = read_lora(out / "temporal.safetensors")
    assert (ck.rank, ck.alpha, len(ck.layer_names)) == (4, 4.0, 50) and ck.source.startswith("MotionDirector")
    assert load_cached_clip(out / "reference.safetensors").latents.shape == (4, 4, 16, 16)


def test_mismatched_counts_and_shapes_are_refused(md_checkpoint, tmp_path):
    from motion4d.video.convert import convert_motiondirector, read_motiondirector_list

    bb = load_tiny(md_checkpoint["folder"])
    tensors = read_motiondirector_list(md_checkpoint["ckpt"] / "temporal" / "lora" / "150_unet.pt")
    bad = tmp_path / "short" / "temporal" / "lora"
    bad.mkdir(parents=True)
    torch.save(tensors[:-2], bad / "10_unet.pt")
    with pytest.raises(ValueError, match=r"holds 98 tensors but the base model needs 100 for temporal"):
        convert_motiondirector(bad.parent.parent, tmp_path / "o1", unet=bb.unet)
    wrong = [t.clone() for t in tensors]
    wrong[5] = torch.zeros(wrong[5].shape[0], wrong[5].shape[1] + 1)  # a down matrix with the wrong in_features
    torch.save(wrong, bad / "10_unet.pt")
    with pytest.raises(ValueError, match=r"pair 2 .* has up .* but the base layer is"):
        convert_motiondirector(bad.parent.parent, tmp_path / "o2", unet=bb.unet)
    torch.save({"not": "a list"}, bad / "10_unet.pt")
    with pytest.raises(ValueError, match="does not hold a list of tensors"):
        convert_motiondirector(bad.parent.parent, tmp_path / "o3", unet=bb.unet)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_motiondirector(tmp_path / "nowhere", tmp_path / "o4", unet=bb.unet)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_default_base_architecture_matches_motiondirector_counts():
    """Without local weights the converter uses ZeroScope's architecture: 170 temporal / 96 spatial layers."""
    from motion4d.video.convert import base_unet_skeleton
    from motion4d.video.lora import target_module_names

    unet = base_unet_skeleton("zeroscope")
    temporal, spatial = target_module_names(unet, "temporal"), target_module_names(unet, "spatial")
    assert (len(temporal), len(spatial)) == (170, 96)
    assert temporal[0] == "transformer_in.transformer_blocks.0.attn1.to_q"
    assert temporal[-1] == "mid_block.temp_attentions.0.transformer_blocks.0.ff.net.2"
    assert spatial[0] == "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    assert spatial[-1] == "mid_block.attentions.0.transformer_blocks.0.ff.net.2"
