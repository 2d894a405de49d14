"""Density grid and marching-cubes mesh of Gaussians."""
import math

import numpy as np
import pytest
import torch
from _export_scenes import ball_gaussians, ball_interior_density

from motion4d.export import density_grid, extract_mesh
from motion4d.gaussians import Gaussians


def _random_gaussians(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(n, 3, generator=g) - 0.5
    quats = torch.randn(n, 4, generator=g)
    scales = 0.02 + 0.08 * torch.rand(n, 3, generator=g)
    return Gaussians(means, quats, scales, 0.1 + 0.9 * torch.rand(n, generator=g), torch.randn(n, 1, 3, generator=g))


def _dense_density(g: Gaussians, points: torch.Tensor, cutoff=3.0):
    """Brute force: every Gaussian at every point, truncated at ``cutoff`` sigma."""
    from motion4d.gaussians.geometry import quat_to_rotmat

    rot = quat_to_rotmat(g.quats.double())
    inv = (rot / g.scales.double()[:, None, :] ** 2) @ rot.transpose(1, 2)
    d = points.double()[:, None, :] - g.means.double()[None]
    maha = torch.einsum("pni,nij,pnj->pn", d, inv, d)
    w = torch.where(maha <= cutoff ** 2, torch.exp(-0.5 * maha), torch.zeros(()).double()) * g.opacities.double()
    return w.sum(1), (w[..., None] * g.rgb.double().clamp(0, 1)).sum(1)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_density_grid_matches_brute_force(backend):
    g = _random_gaussians()
    grid = density_grid(g, resolution=20, backend=backend)
    X, Y, Z = grid.density.shape
    idx = torch.stack(torch.meshgrid(torch.arange(X), torch.arange(Y), torch.arange(Z), indexing="ij"), -1)
    points = grid.origin + idx.reshape(-1, 3).double() * grid.voxel
    dens, col = _dense_density(g, points)
    torch.testing.assert_close(grid.density.reshape(-1).double(), dens, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(grid.color_sum.reshape(-1, 3).double(), col, atol=2e-4, rtol=1e-4)
    # bounds cover every Gaussian's 3-sigma box, with an empty sample on each side
    assert float(grid.density[0].abs().max()) == 0 and float(grid.density[-1].abs().max()) == 0
    assert max(X, Y, Z) == 22


def test_backends_agree_on_a_ball():
    g = ball_gaussians()
    # jitter off the lattice so no sample sits exactly on a 3-sigma cutoff (float32 vs float64 ties)
    g = g.replace(means=g.means + 1e-3 * torch.randn(g.means.shape, generator=torch.Generator().manual_seed(0)))
    a = density_grid(g, resolution=24, backend="numba")
    b = density_grid(g, resolution=24, backend="torch")
    torch.testing.assert_close(a.density, b.density, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a.color_sum, b.color_sum, atol=1e-4, rtol=1e-4)


def test_ball_mesh_radius_orientation_and_colours():
    step, radius = 0.06, 0.4
    g = ball_gaussians(radius=radius, step=step)
    # a ball of lattice Gaussians has the volume of its lattice cells; its edge sits at half the inside density
    r_eq = (3 * len(g) * step ** 3 / (4 * math.pi)) ** (1 / 3)
    mesh = extract_mesh(g, resolution=40, threshold=ball_interior_density(step=step) / 2)
    r = np.linalg.norm(mesh.vertices, axis=1)
    assert abs(r.mean() - r_eq) < 0.05 * r_eq, (r.mean(), r_eq)
    assert r.std() < 0.02 * r_eq
    assert mesh.is_watertight and mesh.volume > 0  # closed, triangles facing outwards
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * r.mean() ** 3, rel=0.05)
    colors = np.asarray(mesh.visual.vertex_colors)
    assert colors.shape == (len(mesh.vertices), 4) and colors.dtype == np.uint8
    right, left = colors[mesh.vertices[:, 0] > 0.15], colors[mesh.vertices[:, 0] < -0.15]
    np.testing.assert_allclose(right[:, :3].mean(0), [230, 26, 26], atol=4)  # red half
    np.testing.assert_allclose(left[:, :3].mean(0), [26, 26, 230], atol=4)  # blue half


def test_threshold_moves_the_surface():
    g = ball_gaussians()
    inside = ball_interior_density()
    r_low = np.linalg.norm(extract_mesh(g, resolution=32, threshold=0.2 * inside).vertices, axis=1).mean()
    r_high = np.linalg.norm(extract_mesh(g, resolution=32, threshold=0.8 * inside).vertices, axis=1).mean()
    assert r_low > r_high + 0.02


def test_small_components_are_dropped():
    ball = ball_gaussians()
    speck = Gaussians.from_rgb(torch.tensor([[2.0, 0.0, 0.0]]), torch.ones(1, 3), torch.full((1, 3), 0.06),
                               torch.tensor([0.99]))
    g = Gaussians.cat([ball, speck])
    thr = 0.5
    kept = extract_mesh(g, resolution=48, threshold=thr, min_component_faces=0)
    cleaned = extract_mesh(g, resolution=48, threshold=thr, min_component_faces=200)
    assert kept.vertices[:, 0].max() > 1.9 and len(kept.split(only_watertight=False)) == 2
    assert cleaned.vertices[:, 0].max() < 1.0 and len(cleaned.split(only_watertight=False)) == 1
    assert len(cleaned.vertices) == len(np.unique(cleaned.faces))  # no unreferenced vertices left


def test_bad_inputs_give_clear_errors():
    g = ball_gaussians()
    with pytest.raises(ValueError, match=r"threshold=1000.*maximum .*lower threshold"):
        extract_mesh(g, resolution=16, threshold=1000.0)
    with pytest.raises(ValueError, match="threshold must be a positive"):
        extract_mesh(g, resolution=16, threshold=0)
    with pytest.raises(ValueError, match="resolution must be an integer >= 8"):
        extract_mesh(g, resolution=4)
    with pytest.raises(ValueError, match="min_opacity"):
        extract_mesh(g.replace(opacities=torch.full_like(g.opacities, 1e-3)), resolution=16)
    with pytest.raises(ValueError, match="backend='cuda' is not one of auto, numba, torch"):
        density_grid(g, 16, backend="cuda")
    with pytest.raises(ValueError, match="bounds must be"):
        density_grid(g, 16, bounds=[[0, 0, 0], [0, 1, 1]])
