"""LoRA checkpoints: round trip, and clear refusals for files made for another base model."""
import pytest
import torch

from _video_tiny import build_tiny_model, load_tiny, tiny_model_dir, unet_out
from motion4d.video.checkpoint import load_lora, read_lora, save_adapter
from motion4d.video.lora import DualPathLoRA


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tiny_model_dir(tmp_path_factory)
    bb = load_tiny(folder)
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(0)
    lora.add("temporal", "temporal", rank=3, init="random")
    lora.add("spatial", "spatial", rank=2, init="random")
    out = tmp_path_factory.mktemp("ckpt")
    files = {k: save_adapter(bb.unet, k, out / f"{k}.safetensors", base_model=bb.model_id, extra={"step": 5})
             for k in ("temporal", "spatial")}
    x = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return {"folder": folder, "files": files, "x": x, "out": unet_out(bb, x), "dir": out}


def test_save_load_round_trip_gives_identical_outputs(saved):
    bb = load_tiny(saved["folder"])
    base = unet_out(bb, saved["x"])
    load_lora(bb.unet, saved["files"]["temporal"], model_id=bb.model_id)
    load_lora(bb.unet, saved["files"]["spatial"], model_id=bb.model_id)
    assert torch.equal(unet_out(bb, saved["x"]), saved["out"])
    assert (saved["out"] - base).abs().max() > 1e-4
    ck = read_lora(saved["files"]["temporal"])
    assert (ck.rank, ck.path, ck.extra, ck.base_model_fingerprint) == (3, "temporal", {"step": 5}, bb.fingerprint)
    assert all(k.endswith(("lora_A.weight", "lora_B.weight")) for k in ck.tensors)


def test_other_base_model_is_refused(saved, tmp_path):
    other = build_tiny_model(tmp_path / "other", seed=1)  # same architecture, different weights
    import json

    index = json.loads((other / "model_index.json").read_text())
    index["_name_or_path"] = "someone/other-t2v"
    (other / "model_index.json").write_text(json.dumps(index))
    bb = load_tiny(other)
    with pytest.raises(ValueError, match=r"trained on base model 'motion4d-tests/tiny-t2v', but the loaded model is "
                                         r"'someone/other-t2v'.*--allow-base-mismatch"):
        load_lora(bb.unet, saved["files"]["temporal"], model_id=bb.model_id)
    assert not __import__("motion4d.video.lora", fromlist=["get_lora"]).get_lora(bb.unet).adapters  # nothing loaded
    load_lora(bb.unet, saved["files"]["temporal"], model_id=bb.model_id, allow_base_mismatch=True)


def test_same_weights_under_another_name_are_accepted(saved):
    bb = load_tiny(saved["folder"])
    load_lora(bb.unet, saved["files"]["temporal"], model_id="/some/local/copy")  # weights probe matches
    assert "temporal" in __import__("motion4d.video.lora", fromlist=["get_lora"]).get_lora(bb.unet).adapters


def test_other_architecture_and_bad_files_are_refused(saved, tmp_path):
    from diffusers import UNet3DConditionModel
    from safetensors.torch import load_file, save_file

    wide = UNet3DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16,
                                down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                                up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=4,
                                attention_head_dim=4, norm_num_groups=2)
    with pytest.raises(ValueError, match="different UNet architecture"):
        load_lora(wide, saved["files"]["temporal"], model_id="motion4d-tests/tiny-t2v")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_lora(tmp_path / "missing.safetensors")
    pt = tmp_path / "500_unet.pt"
    torch.save([torch.zeros(2, 2)], pt)
    with pytest.raises(ValueError, match="convert-motiondirector"):
        read_lora(pt)
    # metadata rank that does not match the tensors (a hand-edited file)
    from safetensors import safe_open

    with safe_open(str(saved["files"]["temporal"]), framework="pt") as f:
        meta = dict(f.metadata())
    meta["rank"] = "8"
    bad = tmp_path / "bad_rank.safetensors"
    save_file(load_file(str(saved["files"]["temporal"])), str(bad), metadata=meta)
    with pytest.raises(ValueError, match="do not match its rank 8"):
        read_lora(bad)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="not a motion4d LoRA checkpoint"):
        read_lora(plain)
