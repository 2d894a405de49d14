"""The guidance template: a new model is one Guidance subclass (conditioning + noise prediction) and one row
of GUIDANCES; the SDS skeleton (timesteps, noise, CFG, w(t), NaN guard, clamp, detached target) is inherited."""
import pytest
import torch

from motion4d.config import ConfigError
from motion4d.guidance import GUIDANCES, Condition, Guidance, GuidanceConfig, GuidanceType, build_guidance, to_bchw


class ToyGuidance(Guidance):
    """A pixel-space toy model: ``eps = 0.5 x + 0.01 * len(prompt)`` in the conditional branch, ``0.5 x`` in the
    unconditional one (its conditioning is 0 there)."""

    kind = "toy"
    needs = frozenset({"prompt"})
    loss_name = "sds_toy"

    def _load(self):
        from diffusers import DDPMScheduler

        self.scheduler = DDPMScheduler(num_train_timesteps=1000)

    def encode_renders(self, images):
        return to_bchw(images).to(self.device_) * 2 - 1          # pixel space: z = 2x - 1

    def encode_condition(self, condition, batch):
        c = torch.full((batch, 1, 1, 1), float(len(condition.prompt)))
        return torch.cat([torch.zeros_like(c), c])               # (uncond, cond)

    def predict_noise(self, latents_noisy, t, cond):
        return 0.5 * latents_noisy + 0.01 * cond


@pytest.fixture
def toy_row(monkeypatch):
    monkeypatch.setitem(GUIDANCES, "toy", GuidanceType(ToyGuidance, model="none", guidance_scale=4.0, size=(8, 8)))


def test_unknown_type_is_a_config_error_until_its_row_exists(monkeypatch):
    with pytest.raises(ConfigError, match="type.*toy"):
        GuidanceConfig(type="toy")
    monkeypatch.setitem(GUIDANCES, "toy", GuidanceType(ToyGuidance, model="none", guidance_scale=4.0, size=(8, 8)))
    cfg = GuidanceConfig(type="toy")
    assert cfg.guidance_scale(0) == 4.0 and (cfg.height, cfg.width) == (8, 8) and cfg.model == "none"
    assert isinstance(build_guidance(cfg), ToyGuidance)


def test_toy_model_gets_the_whole_sds_step_from_the_template(toy_row):
    g = build_guidance(GuidanceConfig(type="toy", timesteps="anneal", anneal_steps=10, seed=3))
    images = torch.rand(2, 8, 8, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    cond = Condition(prompt="a cat")
    losses = g(images, cond, step=3)
    assert set(losses) == {"sds_toy"} and g.stats["t"].tolist() == [700, 700]
    losses["sds_toy"].backward()
    # by hand: the same noise from a generator seeded like the guidance's, t = round((1 - 3/10) * 1000)
    z = images.detach().permute(0, 3, 1, 2) * 2 - 1
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([700, 700])
    noisy = g.scheduler.add_noise(z, noise, t)
    e_u, e_c = 0.5 * noisy, 0.5 * noisy + 0.01 * 5
    w = 1 - g.scheduler.alphas_cumprod[700]
    grad_z = w * (e_u + 4.0 * (e_c - e_u) - noise) / 2
    assert torch.allclose(images.grad, (2 * grad_z).permute(0, 2, 3, 1), atol=1e-6)
    expected_loss = 0.5 * (w * (e_u + 4.0 * (e_c - e_u) - noise)).pow(2).sum().item() / 2
    assert losses["sds_toy"].item() == pytest.approx(expected_loss, rel=1e-5)


def test_template_guards_non_finite_scores_and_clamps(toy_row):
    class NaNToy(ToyGuidance):
        def predict_noise(self, latents_noisy, t, cond):
            out = super().predict_noise(latents_noisy, t, cond)
            out[:, 0] = float("nan")                                 # a broken channel
            return out

    g = NaNToy(GuidanceConfig(type="toy", grad_clip=0.01))
    images = torch.rand(1, 8, 8, 3).requires_grad_(True)
    loss = g(images, Condition(prompt="x"), step=0)["sds_toy"]
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(images.grad).all()
    assert torch.count_nonzero(images.grad[..., 0]) == 0                # NaN channel -> no gradient
    assert images.grad.abs().max() <= 2 * 0.01 + 1e-7 and images.grad.abs().max() > 0    # clamp at 0.01 on z


def test_missing_prompt_and_bad_groups_are_clear_errors(toy_row):
    g = build_guidance(GuidanceConfig(type="toy"))
    with pytest.raises(ValueError, match="toy guidance needs condition.prompt"):
        g(torch.rand(1, 8, 8, 3), Condition(), step=0)
    g.views_per_timestep = 3
    with pytest.raises(ValueError, match="groups of 3 views; got a batch of 2"):
        g(torch.rand(2, 8, 8, 3), Condition(prompt="x"), step=0)
