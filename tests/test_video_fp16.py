"""fp16 inference with an imported LoRA: MotionDirector casts the UNet *and* its LoRA to half precision;
motion4d keeps LoRA weights in fp32 next to a half-precision base. Measured against an fp32 reference on CUDA
(figures in docs/notes/mdimport.md); CPU half-precision kernels are not what either project runs, so the test
skips without CUDA."""
import pytest
import torch

from _video_tiny import build_tiny_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="fp16 inference is measured on CUDA only (no CUDA device here)")


def _lora_out(folder, precision, lora_dtype, x, t, seed=0):
    from motion4d.video.backbones import load_backbone
    from motion4d.video.lora import DualPathLoRA

    bb = load_backbone(str(folder), device="cuda", precision=precision)
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(seed)
    for kind in ("temporal", "spatial"):
        lora.add(kind, kind, rank=4, init="random")
    for name in ("temporal", "spatial"):  # MotionDirector: the LoRA is part of the half-precision UNet
        for layer in lora.layers(name).values():
            layer.lora_A[name].to(lora_dtype)
            layer.lora_B[name].to(lora_dtype)
    with torch.no_grad():
        text = bb.encode_prompt("lower newer")
        return bb.unet(x.to(bb.dtype), t, encoder_hidden_states=text).sample.float()


def test_fp16_output_difference_motiondirector_vs_motion4d(tmp_path, capsys):
    folder = build_tiny_model(tmp_path / "t2v", channels=(32, 64))
    x = torch.randn(1, 4, 8, 16, 16, generator=torch.Generator().manual_seed(0)).cuda()
    t = 500
    ref = _lora_out(folder, "fp32", torch.float32, x, t)
    ours = _lora_out(folder, "fp16", torch.float32, x, t)            # motion4d: fp32 LoRA on an fp16 base
    upstream = _lora_out(folder, "fp16", torch.float16, x, t)        # MotionDirector: everything in fp16
    scale = ref.abs().max()
    d_ours, d_up = ((ours - ref).abs().max() / scale).item(), ((upstream - ref).abs().max() / scale).item()
    d_between = ((ours - upstream).abs().max() / scale).item()
    with capsys.disabled():
        print(f"\nfp16 vs fp32 (max |diff| / max |fp32|): motion4d (fp32 LoRA) {d_ours:.2e}, "
              f"MotionDirector (fp16 LoRA) {d_up:.2e}, between the two {d_between:.2e}")
    assert torch.isfinite(ours).all() and torch.isfinite(upstream).all()
    assert d_ours < 1e-2 and d_up < 1e-2          # half precision: ~1e-3 relative, not a different model
    assert d_between > 0                           # the LoRA precision does change the numbers
