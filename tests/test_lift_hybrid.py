"""guidance.kind=hybrid in the lift: the stages call the guidance the schedule draws, resume bit for bit, and bad
hybrid configs fail at load with the key named."""
import pytest
import torch

from motion4d.config import ConfigError
from motion4d.lift import load_input, load_lift_config
from motion4d.lift.stages import DynamicStage
from motion4d.lift.trainer import LiftTrainer

TINY = ["static.num_points=60", "static.views_per_step=1", "dynamic.frames_per_step=2", "dynamic.views_per_frame=1",
        "output.preview_every=0", "dynamic.deform.resolution=[4,4,4,3]", "dynamic.deform.channels=4",
        "dynamic.deform.width=8", "guidance.render_size=16", "dynamic.sds_views_per_frame=1", "prompt=a lower",
        "input.num_frames=0", "input.size=32"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from _lift_data import write_multiview

    root, _ = write_multiview(tmp_path_factory.mktemp("mv") / "scene", num_frames=3)
    return root / "ref"


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _hybrid(image_kind="zero123", video_p=0.5, freeze=False, seed=4):
    """{novel view or image guidance; video} options: the image one alone in the static stage, both in the dynamic."""
    from motion4d.guidance.tiny import tiny_checkpoint

    image = {"type": image_kind, "model": str(tiny_checkpoint("sd" if image_kind == "vsd" else "zero123")),
             "height": 8, "width": 8, **({"vsd": {"lora_lr": 0.01}} if image_kind == "vsd" else {})}
    video = {"type": "video", "model": str(tiny_checkpoint("video")), "height": 8, "width": 8,
             "video": {"num_frames": 3}}
    return {"seed": seed, "frames": 3, "guidances": {"image": image, "video": video}, "weights": {"video": 0.5},
            "stages": [{"name": "static", "steps": 1, "probabilities": {"image": 1.0}},
                       {"name": "dynamic", "steps": 1, "dynamic": True, "freeze_deformation_on_image_steps": freeze,
                        "probabilities": {"image": 1 - video_p, "video": video_p}}]}


def _cfg(options, *extra):
    return load_lift_config("demo", overrides=TINY + list(extra), data={"guidance": {"kind": "hybrid",
                                                                                      "options": options}})


def _record(guidance):
    """Wrap every member's losses to record (name, stage-local step, render shape)."""
    calls = []
    for name, g in guidance.members.items():
        def wrapped(images, condition, step=0, _name=name, _orig=g.losses):
            calls.append((_name, step, tuple(images.shape)))
            return _orig(images, condition, step)
        g.losses = wrapped
    return calls


def test_dynamic_stage_calls_the_guidance_the_schedule_draws(clip, tmp_path):
    from motion4d.lift.api import build_lift_guidance
    from motion4d.lift.hybrid import HybridLiftGuidance

    cfg = _cfg(_hybrid(), "static.iters=2", "dynamic.iters=8", "output.checkpoint_every=0")
    guidance = build_lift_guidance(cfg)
    assert isinstance(guidance, HybridLiftGuidance) and guidance.needs >= {"prompt", "image"}
    calls = _record(guidance)
    tr = LiftTrainer(load_input(clip, cfg.input, cfg.camera), cfg, tmp_path, guidance=guidance, log=lambda s: None)
    tr.train()
    draws = tr.ctx.distiller.draws
    expected = [("static", k, "image") for k in range(2)] + \
        [("dynamic", k, guidance.plan("dynamic", k).guidance) for k in range(8)]
    assert draws == expected
    dyn = [name for stage, _, name in draws if stage == "dynamic"]
    assert set(dyn) == {"image", "video"}, dyn               # both guidances supervise the dynamic stage
    # what each call got: zero123 one view per sampled frame (2 frames), video one 3-frame clip, never both at once
    want = [("image", 0, (1, 16, 16, 3))] + [("image", 1, (1, 16, 16, 3))]
    for k, name in enumerate(dyn):
        want += [("image", k, (1, 16, 16, 3))] * 2 if name == "image" else [("video", k, (3, 16, 16, 3))]
    assert calls == want
    hist = [h for h in tr.state.history if h["stage"] == "dynamic"]
    assert hist and all(h["loss"] == h["loss"] for h in hist)


def test_a_frozen_image_step_leaves_the_field_to_the_reference_views(clip, tmp_path):
    """freeze_deformation_on_image_steps: the image guidance's renders see detached offsets (4D-fy)."""
    from motion4d.lift.api import build_lift_guidance

    grads = {}
    for freeze in (False, True):
        cfg = _cfg(_hybrid(video_p=0.0, freeze=freeze), "static.iters=0", "dynamic.iters=1",
                   "dynamic.lambda_rgb=0", "dynamic.lambda_mask=0", "output.checkpoint_every=0")
        tr = LiftTrainer(load_input(clip, cfg.input, cfg.camera), cfg, tmp_path / str(freeze),
                         guidance=build_lift_guidance(cfg), log=lambda s: None)
        stage = tr.stage
        stage.step(0, torch.Generator().manual_seed(0))
        grads[freeze] = sum(float(p.grad.abs().sum()) for p in stage.field.mlp_parameters() if p.grad is not None)
    # without reference weights the field's only signal besides its regularisers is the guidance
    assert grads[False] > grads[True]


def test_hybrid_resume_is_bit_exact_with_per_guidance_state(clip, tmp_path, monkeypatch):
    """VSD (trainable LoRA + optimizer) and video SDS: a run cut in the dynamic stage resumes exactly."""
    from motion4d.lift.api import build_lift_guidance

    cfg = _cfg(_hybrid("vsd", seed=1), "static.iters=2", "dynamic.iters=4", "output.checkpoint_every=2")
    data = load_input(clip, cfg.input, cfg.camera)
    full = LiftTrainer(data, cfg, tmp_path / "full", guidance=build_lift_guidance(cfg), log=lambda s: None)
    full.train()
    names = {n for _, _, n in full.ctx.distiller.draws}
    assert names == {"image", "video"}
    original, calls = DynamicStage.step, {"n": 0}

    def crash(self, step, gen):
        calls["n"] += 1
        if calls["n"] == 4:        # dynamic step 3 (global 5) never ran; the last checkpoint is global step 4
            raise KeyboardInterrupt
        return original(self, step, gen)

    monkeypatch.setattr(DynamicStage, "step", crash)
    with pytest.raises(KeyboardInterrupt):
        LiftTrainer(data, cfg, tmp_path / "cut", guidance=build_lift_guidance(cfg), log=lambda s: None).train()
    monkeypatch.setattr(DynamicStage, "step", original)
    resumed = LiftTrainer(data, cfg, tmp_path / "cut", guidance=build_lift_guidance(cfg), log=lambda s: None)
    saved = resumed.checkpoints.latest()
    resumed.train(resume=True)
    from motion4d.utils.training_state import load_train_state
    keys = load_train_state(saved.state_file, restore_global_rng=False).tensors
    assert any(k.startswith("guidance.image.unet.") for k in keys)           # the VSD member's LoRA, by name
    a = {**full.model.state_dict(), **{f"f.{k}": v for k, v in full.field.state_dict().items()}}
    b = {**resumed.model.state_dict(), **{f"f.{k}": v for k, v in resumed.field.state_dict().items()}}
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    lora = {k: v for k, v in resumed.guidance.trainable_state_dict().items() if ".unet." in k}
    assert lora and all(torch.equal(v, full.guidance.trainable_state_dict()[k]) for k, v in lora.items())


def test_bad_hybrid_configs_fail_when_the_config_loads():
    opts = _hybrid()
    with pytest.raises(ConfigError, match="guidance.kind='fancy' is not allowed; choose one of: none, hybrid, zero123"):
        load_lift_config("demo", overrides=["guidance.kind=fancy"])
    with pytest.raises(ConfigError, match="must come before the dynamic ones"):
        _cfg({**opts, "stages": opts["stages"][::-1]})
    with pytest.raises(ConfigError, match="unknown guidance 'zero'"):
        _cfg({**opts, "stages": [{"steps": 1, "probabilities": {"zero": 1.0}}]})
    with pytest.raises(ConfigError, match="static stage cannot use clip guidance"):
        _cfg({**opts, "stages": [{"steps": 1, "probabilities": {"video": 1.0}}]})
