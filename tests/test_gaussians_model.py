"""Gaussians / GaussianModel: shapes, activations, constructors."""
import math

import pytest
import torch

from motion4d.gaussians import Gaussians, GaussianModel, num_sh_bases, rgb_to_sh, sh_to_rgb


def test_from_points_knn_scale_and_colour():
    pts = torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [0.0, 0.2, 0], [0.0, 0, 0.3]])
    rgb = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0.5]])
    m = GaussianModel.from_points(pts, rgb, sh_degree=2, opacity=0.2)
    assert len(m) == 4 and m.sh_rest.shape == (4, 8, 3)
    torch.testing.assert_close(m.opacities, torch.full((4,), 0.2))
    torch.testing.assert_close(m.gaussians().rgb, rgb)
    # point 0's three nearest neighbours are at 0.1, 0.2, 0.3
    assert abs(m.scales[0, 0].item() - 0.2) < 1e-6
    g = m.gaussians()
    assert g.sh.shape == (4, 9, 3) and g.sh_degree == 2


def test_active_sh_degree_masks_higher_bands():
    m = GaussianModel.random_in_sphere(5, sh_degree=3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        m.sh_rest.fill_(1.0)
    m.active_sh_degree = 1
    sh = m.sh
    assert (sh[:, 1:4] == 1).all() and (sh[:, 4:] == 0).all()


def test_random_in_sphere_and_from_gaussians_round_trip():
    m = GaussianModel.random_in_sphere(200, radius=0.5, generator=torch.Generator().manual_seed(1))
    assert m.means.norm(dim=-1).max() <= 0.5 + 1e-6
    g = m.gaussians()
    back = GaussianModel.from_gaussians(g)
    torch.testing.assert_close(back.gaussians().scales, g.scales)
    torch.testing.assert_close(back.gaussians().opacities, g.opacities, atol=1e-6, rtol=1e-5)
    sub = g.select(torch.arange(10))
    assert len(sub) == 10 and len(Gaussians.cat([sub, sub])) == 20


def test_sh_helpers_and_validation():
    assert [num_sh_bases(d) for d in range(4)] == [1, 4, 9, 16]
    with pytest.raises(ValueError, match="sh_degree=4 is not supported"):
        num_sh_bases(4)
    rgb = torch.rand(7, 3)
    torch.testing.assert_close(sh_to_rgb(rgb_to_sh(rgb)), rgb)
    assert abs(rgb_to_sh(torch.tensor(1.0)).item() - 0.5 / 0.28209479177387814) < 1e-6
    with pytest.raises(ValueError, match=r"Gaussians.scales must have shape \(2, 3\)"):
        Gaussians(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(3, 3), torch.zeros(2), torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="K a square"):
        Gaussians(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 2, 3))
    assert math.isclose(GaussianModel.random_in_sphere(3, opacity=0.1).opacities[0].item(), 0.1, rel_tol=1e-5)
