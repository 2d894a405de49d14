"""Harder benchmark scenes: per-face coloured boxes, set-angle spins, dev/test splits; Procrustes rotation."""
import math

import numpy as np
import pytest
import torch

from motion4d.evaluation.motion import procrustes, rotation_about, rotation_angle
from motion4d.world import DEV_SPLIT, PALETTE, TEST_SPLIT, SceneSpec, WorldScene
from motion4d.world.objects import FACE_COLORS
from motion4d.world.suite import make_suite


def test_procrustes_recovers_a_known_rotation():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 3, generator=g, dtype=torch.float64)
    ang = math.radians(37.0)
    r = torch.tensor([[math.cos(ang), 0, math.sin(ang)], [0, 1, 0], [-math.sin(ang), 0, math.cos(ang)]],
                     dtype=torch.float64)
    b = a @ r.T + torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64)
    rr, t = procrustes(a, b)
    torch.testing.assert_close(rr, r)
    torch.testing.assert_close(t, torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64))
    assert rotation_angle(rr) == pytest.approx(37.0, abs=1e-6)
    assert rotation_about(rr, [0, 1, 0]) == pytest.approx(37.0, abs=1e-6)
    assert rotation_about(rr.T, [0, 1, 0]) == pytest.approx(-37.0, abs=1e-6)
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        procrustes(a[:2], b[:2])


def test_face_coloured_box_turns_by_the_set_angle():
    spec = SceneSpec("x", 5, ("box",), ("spin",), faces=True, spin=(0.0, 1.0, 0.0, 90.0))
    scene = spec.make(num_frames=4, size=32, num_points=600)
    rgb = scene.gaussians_at(0.0).rgb.numpy()
    palette = np.array([PALETTE[c] for c in FACE_COLORS])
    nearest = np.abs(rgb[:, None] - palette[None]).sum(-1).argmin(1)
    counts = np.bincount(nearest, minlength=6)
    assert (counts > 30).all()  # all six face colours, each on a good share of the surface
    r, _ = procrustes(scene.gaussians_at(0.0).means, scene.gaussians_at(1.0).means)
    assert abs(rotation_about(r, [0, 1, 0])) == pytest.approx(90.0, abs=0.5)
    # the spec round-trips through scene.json's dict (a written scene reloads the same)
    again = WorldScene.from_dict(scene.to_dict())
    torch.testing.assert_close(again.gaussians_at(0.7).means, scene.gaussians_at(0.7).means)


def test_dev_and_test_splits_share_recipes_not_seeds():
    assert [s.name for s in DEV_SPLIT] == [s.name for s in TEST_SPLIT]
    assert not {s.seed for s in DEV_SPLIT} & {s.seed for s in TEST_SPLIT}
    assert make_suite("dev") == list(DEV_SPLIT) and make_suite("test") == list(TEST_SPLIT)
    multi = [s for s in DEV_SPLIT if s.motions and len(s.motions) > 1]
    assert len(multi) >= 2 and any(s.faces and s.spin for s in DEV_SPLIT)
    scene = TEST_SPLIT[1].make(num_frames=3, size=16, num_points=300)
    assert [o["kind"] for o in scene.objects] == ["box", "sphere"]
    assert scene.objects[0]["parts"][0]["pattern"] == "faces"
