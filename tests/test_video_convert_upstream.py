"""MotionDirector files as its own code writes them in the less common cases: layers of different ranks (its
``LoraInjectedLinear`` lowers the rank of narrow layers) and multi-video spatial files (one LoRA per video,
interleaved per layer). Expected outputs come from applying each (up, down) pair by hand."""
import pytest
import torch

from _video_tiny import load_tiny, single_thread, tiny_model_dir, unet_out
from motion4d.video.lora import target_module_names

_single_thread = pytest.fixture(autouse=True)(single_thread)


def _md_pairs(unet, kind, ranks, seed):
    """A MotionDirector list ``[up_0, down_0, ...]`` for ``kind`` with layer i of rank ``ranks(i, in, out)``."""
    g = torch.Generator().manual_seed(seed)
    modules = dict(unet.named_modules())
    out = []
    for i, name in enumerate(target_module_names(unet, kind)):
        lin = modules[name]
        r = ranks(i, lin.in_features, lin.out_features)
        out += [torch.nn.Parameter(torch.randn(lin.out_features, r, generator=g) * 0.3),
                torch.nn.Parameter(torch.randn(r, lin.in_features, generator=g) * 0.3)]
    return out


def _fold(unet, kind, pairs):
    """Apply each layer's pair by hand: W <- W + up @ down (MotionDirector's scale 1, no dropout at inference)."""
    modules = dict(unet.named_modules())
    with torch.no_grad():
        for j, name in enumerate(target_module_names(unet, kind)):
            modules[name].weight += pairs[2 * j] @ pairs[2 * j + 1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


def test_mixed_rank_file_converts_and_matches_hand_applied_pairs(tiny, tmp_path):
    from motion4d.cli import main
    from motion4d.video.checkpoint import load_lora, read_lora

    bb = load_tiny(tiny)
    # requested rank 6, lowered to min(in, out) where a layer is narrower (MotionDirector's rule), and varied
    # further so that the file holds at least three ranks
    temporal = _md_pairs(bb.unet, "temporal", lambda i, a, b: min(6 - i % 3, a, b), seed=1)
    spatial = _md_pairs(bb.unet, "spatial", lambda i, a, b: min(1 + i % 4, a, b), seed=2)
    ckpt = tmp_path / "checkpoint-50"
    for kind, pairs in (("temporal", temporal), ("spatial", spatial)):
        (ckpt / kind / "lora").mkdir(parents=True)
        torch.save(pairs, ckpt / kind / "lora" / "50_unet.pt")
    out = tmp_path / "out"
    assert main(["convert-motiondirector", str(ckpt), str(out), "--base-model", str(tiny)]) == 0

    ck = read_lora(out / "temporal.safetensors")
    ranks = {ck.layer_rank(n) for n in ck.layer_names}
    assert len(ranks) >= 3 and ck.rank_pattern and all(ck.alpha_pattern[k] == v for k, v in ck.rank_pattern.items())
    x = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    base = unet_out(bb, x)
    load_lora(bb.unet, out / "temporal.safetensors", model_id=bb.model_id)
    load_lora(bb.unet, out / "spatial.safetensors", model_id=bb.model_id)
    got = unet_out(bb, x)

    ref = load_tiny(tiny)
    _fold(ref.unet, "temporal", temporal)
    _fold(ref.unet, "spatial", spatial)
    want = unet_out(ref, x)
    assert (want - base).abs().max() > 1e-3  # the LoRAs do change the output
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_mixed_ranks_survive_a_save_round_trip(tiny, tmp_path):
    """An adapter built with rank_pattern saves and reloads with the same per-layer ranks and outputs."""
    from motion4d.video.checkpoint import load_lora, read_lora, save_adapter
    from motion4d.video.lora import DualPathLoRA

    bb = load_tiny(tiny)
    names = target_module_names(bb.unet, "temporal")
    pattern = {names[0]: 1, names[3]: 2}
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(0)
    lora.add("temporal", "temporal", rank=3, init="random", rank_pattern=pattern, alpha_pattern={names[0]: 2.0})
    x = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    want = unet_out(bb, x)
    file = save_adapter(bb.unet, "temporal", tmp_path / "t.safetensors", base_model=bb.model_id)
    ck = read_lora(file)
    assert ck.rank_pattern == pattern and ck.alpha_pattern == {names[0]: 2.0}
    assert ck.tensors[f"{names[0]}.lora_A.weight"].shape[0] == 1
    other = load_tiny(tiny)
    load_lora(other.unet, file, model_id=other.model_id)
    assert torch.equal(unet_out(other, x), want)
    with pytest.raises(ValueError, match="rank_pattern names 1 layer"):
        DualPathLoRA(load_tiny(tiny).unet).add("t", "temporal", rank_pattern={"not.a.layer": 2})


@pytest.fixture(scope="module")
def multi(tiny, tmp_path_factory):
    """A multi-video checkpoint: 3 per-video spatial LoRAs interleaved per layer, and one temporal LoRA."""
    bb = load_tiny(tiny)
    videos = [_md_pairs(bb.unet, "spatial", lambda i, a, b: 2, seed=10 + k) for k in range(3)]
    interleaved = []
    for j in range(len(videos[0]) // 2):
        for v in videos:
            interleaved += [v[2 * j], v[2 * j + 1]]
    ckpt = tmp_path_factory.mktemp("multi") / "checkpoint-100"
    (ckpt / "spatial" / "lora").mkdir(parents=True)
    (ckpt / "temporal" / "lora").mkdir(parents=True)
    torch.save(interleaved, ckpt / "spatial" / "lora" / "100_unet.pt")
    torch.save(_md_pairs(bb.unet, "temporal", lambda i, a, b: 2, seed=9), ckpt / "temporal" / "lora" / "100_unet.pt")
    return {"ckpt": ckpt, "videos": videos}


def test_multi_video_checkpoint_converts_temporal_and_reports_videos(tiny, multi, tmp_path, capsys):
    from motion4d.cli import main

    out = tmp_path / "out"
    assert main(["convert-motiondirector", str(multi["ckpt"]), str(out), "--base-model", str(tiny)]) == 0
    text = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["temporal.safetensors"]
    assert "holds 3 per-video spatial LoRAs" in text and "--spatial-index K (0..2)" in text


def test_spatial_index_picks_one_video(tiny, multi, tmp_path):
    from motion4d.cli import main
    from motion4d.video.checkpoint import read_lora

    out = tmp_path / "out"
    assert main(["convert-motiondirector", str(multi["ckpt"]), str(out), "--base-model", str(tiny),
                 "--spatial-index", "1"]) == 0
    ck = read_lora(out / "spatial.safetensors")
    assert ck.extra == {"spatial_index": 1, "spatial_videos": 3}
    want = multi["videos"][1]
    names = target_module_names(load_tiny(tiny).unet, "spatial")  # traversal order (the file's keys are sorted)
    assert sorted(names) == sorted(ck.layer_names)
    for j, name in enumerate(names):
        assert torch.equal(ck.tensors[f"{name}.lora_B.weight"], want[2 * j])
        assert torch.equal(ck.tensors[f"{name}.lora_A.weight"], want[2 * j + 1])
    assert not torch.equal(ck.tensors[f"{names[0]}.lora_B.weight"], multi["videos"][0][0])


def test_out_of_range_spatial_index_is_refused(tiny, multi, tmp_path, capsys):
    from motion4d.cli import main
    from motion4d.video.convert import convert_motiondirector

    bb = load_tiny(tiny)
    with pytest.raises(ValueError, match=r"--spatial-index 3 is out of range: the spatial file holds 3 per-video "
                                         r"LoRA\(s\), so the index must be 0\.\.2"):
        convert_motiondirector(multi["ckpt"], tmp_path / "o1", unet=bb.unet, spatial_index=3)
    assert not (tmp_path / "o1").exists()
    assert main(["convert-motiondirector", str(multi["ckpt"]), str(tmp_path / "o2"), "--base-model", str(tiny),
                 "--spatial-index", "-1"]) == 2
    assert "index must be 0..2" in capsys.readouterr().err
    only_temporal = multi["ckpt"] / "temporal"
    with pytest.raises(ValueError, match="has no spatial LoRA file"):
        convert_motiondirector(only_temporal, tmp_path / "o3", unet=bb.unet, spatial_index=0)


def _reference(file, latents, noise, steps):
    from safetensors.torch import save_file

    meta = {"kind": "video", "caption": "lower"}
    if steps is not None:
        meta["inversion_steps"] = str(steps)
    save_file({"latents": latents, "inversion_noise": noise}, str(file), metadata=meta)
    return file


def test_converted_cache_keeps_the_inversion_noise_and_its_steps(tiny, multi, tmp_path):
    from motion4d.video.convert import convert_motiondirector
    from motion4d.video.inversion import stored_inversion_noise

    run = tmp_path / "train_x"
    ckpt = run / "checkpoint-100"
    (ckpt / "temporal" / "lora").mkdir(parents=True)
    (ckpt / "temporal" / "lora" / "100_unet.pt").write_bytes((multi["ckpt"] / "temporal/lora/100_unet.pt").read_bytes())
    (run / "cached_latents").mkdir()
    noise = torch.randn(1, 4, 4, 16, 16)
    torch.save({"latents": torch.randn(1, 4, 4, 16, 16), "inversion_noise": noise, "text_prompt": ["lower"]},
               run / "cached_latents" / "cached_0.pt")
    written = convert_motiondirector(ckpt, tmp_path / "out", unet=load_tiny(tiny).unet)
    got, steps = stored_inversion_noise(written["reference"])
    assert steps == 50 and torch.equal(got, noise)  # MotionDirector inverts with 50 DDIM steps


def test_generate_uses_stored_inversion_noise_when_steps_match(tiny, tmp_path, capsys):
    from motion4d.cli import main
    from motion4d.video.generate import generate_video
    from motion4d.video.sampling import sample_video

    bb = load_tiny(tiny)
    g = torch.Generator().manual_seed(4)
    noise = torch.randn(1, 4, 4, 16, 16, generator=g)
    ref = _reference(tmp_path / "ref.safetensors", torch.randn(4, 4, 16, 16, generator=g), noise[0], steps=2)
    kw = dict(backbone=bb, num_frames=4, width=32, height=32, guidance=6.0, show_progress=False, seed=1,
              noise_prior=1.0, noise_prior_video=ref)
    used = generate_video("lower newer", tmp_path / "a", steps=2, **kw)
    assert used.notes == [f"noise prior: using the inversion noise stored in {ref} (2 DDIM steps)"]
    assert used.settings["noise_prior_source"] == "stored"
    # p = 1: the initial latents are exactly the stored noise
    want = sample_video(bb, "lower newer", num_frames=4, width=32, height=32, steps=2, guidance=6.0,
                        latents=noise, show_progress=False).frames[0]
    assert torch.equal(used.frames, want)

    inverted = generate_video("lower newer", tmp_path / "b", steps=3, **kw)
    assert inverted.notes == [f"noise prior: DDIM-inverting {ref} with 3 steps (its stored inversion noise is for 2 "
                              f"steps, not 3)"] and inverted.settings["noise_prior_source"] == "inverted"
    plain = _reference(tmp_path / "plain.safetensors", torch.randn(4, 4, 16, 16, generator=g), noise[0], None)
    assert main(["generate-video", "lower newer", "--model", str(tiny), "--out", str(tmp_path / "c"), "--frames",
                 "4", "--width", "32", "--height", "32", "--steps", "2", "--noise-prior", "0.5",
                 "--noise-prior-video", str(plain), "--seed", "1", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"noise prior: DDIM-inverting {plain} with 2 steps (its stored inversion noise is for an "
                        f"unrecorded number of steps, not 2)")
