"""PLY I/O in the 3DGS layout: exact round trips, layout details, clear errors on other PLYs."""
import numpy as np
import pytest
import torch

from motion4d.camera import orbit_cameras
from motion4d.gaussians import Gaussians, GaussianModel, load_ply, save_ply
from motion4d.gaussians.ply import ply_property_names
from motion4d.render import render


def _model(n=40, degree=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    k = (degree + 1) ** 2
    return GaussianModel(torch.rand(n, 3, generator=gen) - 0.5, torch.randn(n, 3, generator=gen) * 0.3 - 3,
                         torch.randn(n, 4, generator=gen), torch.randn(n, generator=gen),
                         torch.randn(n, 1, 3, generator=gen), torch.randn(n, k - 1, 3, generator=gen) * 0.2,
                         sh_degree=degree)


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_round_trip_is_exact_and_renders_the_same(tmp_path, degree):
    model = _model(degree=degree)
    path = save_ply(model, tmp_path / "g.ply")
    back = load_ply(path)
    assert back.sh_degree == degree and len(back) == len(model)
    for name in GaussianModel.PARAM_NAMES:
        assert torch.equal(getattr(back, name), getattr(model, name)), name
    cams = orbit_cameras([0.0], [0.0, 120.0], width=24)
    a = render(model.gaussians(), cams).rgb
    b = render(back.gaussians(), cams).rgb
    assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*partial*"))  # atomic write leaves no temporary behind


def test_layout_matches_3dgs(tmp_path):
    model = _model(n=3, degree=1)
    path = save_ply(model, tmp_path / "g.ply")
    raw = path.read_bytes()
    header, body = raw.split(b"end_header\n", 1)
    lines = header.decode().splitlines()
    assert lines[:2] == ["ply", "format binary_little_endian 1.0"]
    assert "element vertex 3" in lines
    props = [ln.split()[-1] for ln in lines if ln.startswith("property")]
    assert props == ply_property_names(1)
    assert all(ln.split()[1] == "float" for ln in lines if ln.startswith("property"))
    rows = np.frombuffer(body, dtype="<f4").reshape(3, len(props))
    col = {name: rows[:, i] for i, name in enumerate(props)}
    # channel-major f_rest: f_rest_{c*3 + b-1} is basis b of channel c
    assert np.array_equal(col["f_rest_4"], model.sh_rest[:, 1, 1].detach().numpy())
    assert np.array_equal(col["f_rest_2"], model.sh_rest[:, 2, 0].detach().numpy())
    assert np.array_equal(col["opacity"], model.opacity_logits.detach().numpy())  # logit
    assert np.array_equal(col["scale_2"], model.log_scales[:, 2].detach().numpy())  # log
    assert np.array_equal(col["rot_0"], model.quats[:, 0].detach().numpy())  # w first
    assert np.all(col["nx"] == 0)


def test_save_activated_gaussians(tmp_path):
    g = Gaussians.from_rgb(torch.zeros(2, 3), torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 1.0]]),
                           torch.full((2, 3), 0.05), torch.tensor([0.3, 0.9]))
    back = load_ply(save_ply(g, tmp_path / "a.ply"))
    torch.testing.assert_close(back.scales, g.scales)
    torch.testing.assert_close(back.opacities, g.opacities)
    torch.testing.assert_close(back.gaussians().rgb, g.rgb)


def test_non_3dgs_ply_errors(tmp_path):
    pts = tmp_path / "points.ply"
    data = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    header = ("ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
              "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    pts.write_bytes(header.encode() + data.tobytes())
    with pytest.raises(ValueError, match="not a 3DGS Gaussian PLY: missing vertex properties f_dc_0"):
        load_ply(pts)
    ascii_ply = tmp_path / "ascii.ply"
    ascii_ply.write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nend_header\n")
    with pytest.raises(ValueError, match="format 'ascii' is not supported"):
        load_ply(ascii_ply)
    (tmp_path / "x.ply").write_text("hello")
    with pytest.raises(ValueError, match="is not a PLY file"):
        load_ply(tmp_path / "x.ply")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_ply(tmp_path / "missing.ply")
    good = save_ply(_model(n=5, degree=0), tmp_path / "t.ply")
    good.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated PLY"):
        load_ply(good)
    with pytest.raises(TypeError, match="GaussianModel or Gaussians"):
        save_ply("nope", tmp_path / "n.ply")
