"""Single-frame spatial path: temporal layers are really skipped; gradient checkpointing is exact."""
import torch

from _video_tiny import load_tiny, tiny_model_dir, unet_out
from motion4d.video.temporal_bypass import temporal_bypass, temporal_modules


def _perturb_temporal(unet, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in temporal_modules(unet).values():
            for p in m.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.5)


def test_single_frame_bypasses_temporal_layers(bb):
    temporal = temporal_modules(bb.unet)
    assert len([n for n in temporal if "temp_convs" in n]) == 8 and "transformer_in" in temporal
    fired = []
    handles = [m.register_forward_hook(lambda *a, n=n: fired.append(n))
               for name, mod in temporal.items() for n, m in mod.named_modules(prefix=name) if n != name]
    one = torch.randn(1, 4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    clip = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    state = {k: v.clone() for k, v in bb.unet.state_dict().items()}
    try:
        with temporal_bypass(bb.unet):
            a1 = unet_out(bb, one)
            assert fired == []  # nothing inside any temporal layer ran
            clip_in = unet_out(bb, clip)
            assert fired  # clips still use the temporal layers
        fired.clear()
        stock1 = unet_out(bb, one)
        assert fired  # stock diffusers runs the temporal layers on one frame
        assert (stock1 - a1).abs().max() > 1e-4
        assert torch.equal(unet_out(bb, clip), clip_in)  # bypass leaves clips alone
        _perturb_temporal(bb.unet, 3)
        with temporal_bypass(bb.unet):
            assert torch.equal(unet_out(bb, one), a1)  # invariant to temporal weights
        assert (unet_out(bb, one) - stock1).abs().max() > 1e-4  # ... which stock single-frame output is not
    finally:
        for h in handles:
            h.remove()
        bb.unet.load_state_dict(state)
    assert not any("forward" in m.__dict__ for m in temporal.values())  # patches removed on exit


def test_gradient_checkpointing_matches_plain_backward(tmp_path_factory):
    from motion4d.video.checkpointing import disable_gradient_checkpointing, enable_gradient_checkpointing
    from motion4d.video.lora import DualPathLoRA

    bb = load_tiny(tiny_model_dir(tmp_path_factory))
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(0)
    lora.add("temporal", "temporal", rank=2, init="random", trainable=True, dropout=0.2)
    lora.add("spatial", "spatial", rank=2, init="random", trainable=True)
    x = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    text = bb.encode_prompt("lower")
    bb.unet.train()

    def grads():
        torch.manual_seed(5)  # dropout masks
        for p in lora.parameters("temporal") + lora.parameters("spatial"):
            p.grad = None
        bb.unet(x, 300, encoder_hidden_states=text).sample.square().mean().backward()
        return [p.grad.clone() for p in lora.parameters("temporal") + lora.parameters("spatial")]

    plain = grads()
    # transformer_in + 8 resnets + 8 temporal convs + 4 spatial + 4 temporal transformers
    assert enable_gradient_checkpointing(bb.unet) == 1 + 8 + 8 + 4 + 4
    ckpt = grads()
    disable_gradient_checkpointing(bb.unet)
    for a, b in zip(plain, ckpt):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert any(g.abs().max() > 0 for g in plain)
