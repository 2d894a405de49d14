"""Camera conventions, constructors and the camera JSON format."""
import json
import math

import pytest
import torch

from motion4d.camera import Cameras, fov_to_focal, look_at, orbit_cameras, turntable


def _project(cams, points):
    """Pixel coordinates and camera z of world points [P,3] in every camera: ([C,P,2], [C,P])."""
    pc = torch.einsum("cij,pj->cpi", cams.viewmats[:, :3, :3], points) + cams.viewmats[:, None, :3, 3]
    uv = torch.einsum("cij,cpj->cpi", cams.Ks, pc)
    return uv[..., :2] / uv[..., 2:], pc[..., 2]


def test_orbit_positions_follow_the_conventions():
    cams = Cameras.orbit([0.0, 0.0, 30.0], [0.0, 90.0, 0.0], radius=2.0, fovy=40.0, width=32)
    c = cams.centers
    torch.testing.assert_close(c[0], torch.tensor([0.0, 0.0, 2.0]), atol=1e-5, rtol=0)  # az 0 on +Z
    torch.testing.assert_close(c[1], torch.tensor([2.0, 0.0, 0.0]), atol=1e-5, rtol=0)  # az 90 on +X
    assert c[2, 1] > 0.9  # elevation > 0 is above
    torch.testing.assert_close(c[2], torch.tensor([0.0, 2 * math.sin(math.radians(30)),
                                                   2 * math.cos(math.radians(30))]), atol=1e-5, rtol=0)


def test_origin_projects_to_image_centre_and_up_is_up():
    cams = Cameras.orbit([0.0, 30.0, -20.0], [0.0, 45.0, 200.0], radius=2.5, width=48, height=32)
    uv, z = _project(cams, torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.3, 0.0]]))
    torch.testing.assert_close(uv[:, 0], torch.tensor([[24.0, 16.0]]).expand(3, 2), atol=1e-4, rtol=0)
    assert (z[:, 0] > 0).all()  # in front of every camera (OpenCV: +z forward)
    assert (uv[:, 1, 1] < uv[:, 0, 1]).all()  # a point above the origin is higher in the image (y down)


def test_focal_length_matches_fov():
    cams = Cameras.orbit(0.0, 0.0, radius=3.0, fovy=60.0, width=64)
    assert abs(cams.Ks[0, 1, 1].item() - 32 / math.tan(math.radians(30))) < 1e-4
    assert abs(fov_to_focal(90.0, 100) - 50.0) < 1e-9
    # a point on the top edge of the vertical field of view lands on the top image border
    y = 3.0 * math.tan(math.radians(30))
    uv, _ = _project(cams, torch.tensor([[0.0, y, 0.0]]))
    assert abs(uv[0, 0, 1].item()) < 1e-3


def test_look_at_is_orthonormal_right_handed_and_handles_straight_down():
    eyes = torch.tensor([[1.0, 2.0, 3.0], [0.0, 5.0, 0.0], [0.0, -4.0, 0.0], [-2.0, 0.1, 0.5]])
    c2w = look_at(eyes)
    R = c2w[:, :3, :3]
    torch.testing.assert_close(R.transpose(1, 2) @ R, torch.eye(3).expand(4, 3, 3), atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(R), torch.ones(4), atol=1e-5)
    assert torch.isfinite(c2w).all()
    fwd = R[:, :, 2]
    torch.testing.assert_close(fwd, torch.nn.functional.normalize(-eyes, dim=-1), atol=1e-5, rtol=0)
    assert (R[[0, 3], 1, 1] < 0).all()  # OpenCV y (down) points against world +Y for level-ish cameras


def test_turntable_and_batch_ops():
    cams = turntable(8, elevation=15.0, width=32)
    assert len(cams) == 8
    torch.testing.assert_close(cams.azimuth, torch.arange(8.0) * 45.0)
    assert len(cams[2:5]) == 3 and cams[3].azimuth.item() == 135.0
    both = Cameras.cat([cams[:2], cams[6:]])
    assert len(both) == 4
    small = cams.resized(16)
    assert small.width == 16 and abs(small.Ks[0, 0, 2].item() - 8.0) < 1e-6
    with pytest.raises(ValueError, match="different sizes"):
        Cameras.cat([cams, small])
    with pytest.raises(ValueError, match="n >= 1"):
        turntable(0)


def test_json_round_trip(tmp_path):
    cams = orbit_cameras([0.0, 30.0], [0.0, 45.0, 90.0], radius=2.5, fovy=49.1, width=40, height=30)
    path = cams.to_json(tmp_path / "cameras.json")
    back = Cameras.from_json(path)
    assert (back.width, back.height) == (40, 30)
    torch.testing.assert_close(back.viewmats, cams.viewmats, atol=1e-5, rtol=0)
    torch.testing.assert_close(back.Ks, cams.Ks)
    torch.testing.assert_close(back.azimuth, cams.azimuth)
    assert back.names == [f"view_{i:03d}" for i in range(6)]


def test_json_opengl_convention_is_converted(tmp_path):
    cams = Cameras.orbit(20.0, 60.0, radius=2.0, width=32)
    data = cams.to_dict()
    c2w_cv = torch.tensor(data["cameras"][0]["c2w"])
    data["convention"] = "opengl"
    data["cameras"][0]["c2w"] = (c2w_cv @ torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))).tolist()
    (tmp_path / "gl.json").write_text(json.dumps(data))
    back = Cameras.from_json(tmp_path / "gl.json")
    torch.testing.assert_close(back.viewmats, cams.viewmats, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop("width"), "'width' must be a positive integer"),
    (lambda d: d.update(convention="blender"), "convention='blender'"),
    (lambda d: d.update(cameras=[]), "non-empty list"),
    (lambda d: d["cameras"][0].pop("fx"), "camera 0 lacks fx"),
    (lambda d: d["cameras"][0].update(c2w=[[1, 0], [0, 1]]), "4x4"),
])
def test_bad_camera_json_errors(tmp_path, mutate, match):
    data = Cameras.orbit(0.0, 0.0, width=16).to_dict()
    mutate(data)
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match):
        Cameras.from_json(tmp_path / "c.json")


def test_camera_json_not_json_or_missing(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        Cameras.from_json(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Cameras.from_json(tmp_path / "missing.json")
