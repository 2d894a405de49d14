"""Scene generation: determinism, round trips through scene.json, bounds, motions, captions."""
import json
import math

import numpy as np
import pytest
import torch

from motion4d.world import (BENCHMARK_SUITE, LARGE_MOTIONS, MOTION_KINDS, OBJECT_KINDS, PALETTE, WorldScene,
                            compatible_motions, make_scene)

FIGURE_FOR = {"wave": "snowman", "walk": "dog"}


def _same(a, b):
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("means", "quats", "scales", "opacities", "sh"))


def test_same_seed_same_scene_and_different_seed_differs():
    a, b, c = make_scene(11), make_scene(11), make_scene(12)
    assert a.to_dict() == b.to_dict()
    assert _same(a.gaussians_at(0.37), b.gaussians_at(0.37))
    assert a.to_dict() != c.to_dict()
    assert not torch.equal(a.gaussians_at(0.0).means[:100], c.gaussians_at(0.0).means[:100])


def test_scene_json_rebuilds_identical_scene():
    scene = make_scene(5, num_objects=3)
    again = WorldScene.from_dict(json.loads(json.dumps(scene.to_dict())))
    for t in (0.0, 0.5, 1.0):
        assert _same(scene.gaussians_at(t), again.gaussians_at(t))


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_everything_stays_in_view(seed):
    scene = make_scene(seed, num_points=300)
    assert scene.max_radius(num_times=17) <= 0.9
    g = scene.gaussians_at(0.5)
    assert len(g) == 300 and torch.isfinite(g.means).all()
    assert torch.allclose(g.quats.norm(dim=1), torch.ones(len(g)), atol=1e-5)


def _moves(scene):
    """Largest displacement from t=0 over the frame times: the mean over Gaussians, or for articulated
    motions (a small part moves) the maximum."""
    g0 = scene.gaussians_at(0.0).means
    dist = [(scene.gaussians_at(t).means - g0).norm(dim=1) for t in scene.frame_times()[1:]]
    return max(float(d.max() if scene.objects[0]["motions"][0]["kind"] == "wave" else d.mean())
               for d in dist)


@pytest.mark.parametrize("motion", MOTION_KINDS)
def test_every_motion_kind_moves(motion):
    kind = FIGURE_FOR.get(motion, "box")
    for seed in (1, 2):
        scene = make_scene(seed, objects=kind, motions=motion, num_points=400, num_frames=16)
        assert scene.objects[0]["motions"][0]["kind"] == motion
        assert _moves(scene) > 0.02, f"{motion} (seed {seed}) barely moves"
        if motion == "wave":  # only the waved part changes
            _, parts = scene.labels()
            moved = parts == scene.objects[0]["motions"][0]["part"]
            assert _moves_where(scene, moved) > 0.02
            assert _moves_where(scene, ~moved) == 0.0


def _moves_where(scene, mask):
    g0 = scene.gaussians_at(0.0).means[torch.from_numpy(mask)]
    return max(float((scene.gaussians_at(t).means[torch.from_numpy(mask)] - g0).norm(dim=1).max())
               for t in np.linspace(0, 1, 9))


def _pairwise(x):
    return torch.cdist(x.double(), x.double())


@pytest.mark.parametrize("motion,rigid", [("translate", True), ("spin", True), ("orbit", True), ("bounce", True),
                                          ("pulse", False), ("wobble", False)])
def test_rigid_motions_keep_shape_and_deforming_ones_do_not(motion, rigid):
    scene = make_scene(4, objects="cone", motions=motion, num_points=200)
    d0 = _pairwise(scene.gaussians_at(0.0).means)
    change = max(float((_pairwise(scene.gaussians_at(t).means) - d0).abs().max()) for t in (0.2, 0.4, 0.6, 0.8))
    if rigid:
        assert change < 1e-4
    else:
        assert change > 0.02


def test_walk_swings_legs_and_carries_the_body_rigidly():
    scene = make_scene(3, objects="robot", motions="walk", num_points=600, num_frames=16)
    _, parts = scene.labels()
    torso, head, leg = (torch.from_numpy(parts == n) for n in ("torso", "head", "left_leg"))
    g0, g1 = scene.gaussians_at(0.0).means, scene.gaussians_at(0.4).means
    shift = (g1[torso] - g0[torso]).mean(0)
    assert shift.norm() > 0.05  # it travels
    assert torch.allclose(g1[torso] - g0[torso], shift.expand_as(g1[torso]), atol=1e-5)  # body only translates
    assert torch.allclose(g1[head] - g0[head], shift.expand_as(g1[head]), atol=1e-5)
    assert (g1[leg] - g0[leg] - shift).norm(dim=1).max() > 0.02  # the leg swings as well


def test_captions_match_descriptions_and_specs():
    for seed in range(25):
        scene = make_scene(seed, num_points=100)
        desc, caption = scene.spec["description"], scene.caption
        assert desc["num_objects"] == len(scene.objects)
        for entry, obj in zip(desc["objects"], scene.objects):
            assert entry["kind"] == obj["kind"] and entry["noun"] in caption
            assert [m["kind"] for m in obj["motions"]] == entry["motion"]
            assert entry["verb"] in caption
            for color in entry["colors"]:
                assert color in PALETTE and color in caption
            body = obj["parts"][0]
            assert body["color_names"][0] == entry["colors"][0]
        assert caption.startswith(("a ", "an "))


def test_caption_examples():
    s = make_scene(0, objects="box", motions="bounce", num_points=100)
    assert s.caption.endswith(("cube bouncing", "box bouncing", "stripes bouncing"))
    s = make_scene(0, objects="snowman", motions="wave", num_points=200)
    assert s.caption.endswith("snowman waving its arm")
    s = make_scene(3, objects="sphere", motions="translate", num_points=100)
    d = s.objects[0]["motions"][0]["displacement"][0]
    assert ("to the right" if d > 0 else "to the left") in s.caption


def test_forced_kinds_and_bad_input():
    s = make_scene(9, objects=["cone", "robot"], motions=["spin", "walk"], num_points=300)
    assert [o["kind"] for o in s.objects] == ["cone", "robot"]
    assert [o["motions"][0]["kind"] for o in s.objects] == ["spin", "walk"]
    with pytest.raises(ValueError, match="wave"):
        make_scene(1, objects="sphere", motions="wave")
    with pytest.raises(ValueError, match="teapot"):
        make_scene(1, objects="teapot")
    with pytest.raises(ValueError, match="num_objects"):
        make_scene(1, num_objects=4)
    with pytest.raises(ValueError, match="outside"):
        make_scene(1).gaussians_at(1.5)
    with pytest.raises(ValueError, match="elevations"):
        make_scene(1, elevations=[95.0])
    with pytest.raises(ValueError, match="radius"):
        make_scene(1, radius=0.5)
    spec = make_scene(1).to_dict()
    spec["objects"][0]["motions"][0]["kind"] = "moonwalk"
    with pytest.raises(ValueError, match="moonwalk"):
        WorldScene.from_dict(spec)


def test_motion_kind_alone_picks_compatible_objects():
    for seed in range(6):
        s = make_scene(seed, motions="walk", num_points=300)
        assert all("walk" in compatible_motions(o) for o in s.objects)


def test_benchmark_suite_covers_every_kind():
    assert 10 <= len(BENCHMARK_SUITE) <= 14
    assert len({s.name for s in BENCHMARK_SUITE}) == len(BENCHMARK_SUITE)
    assert {o for s in BENCHMARK_SUITE for o in s.objects} == set(OBJECT_KINDS)
    assert {m for s in BENCHMARK_SUITE for m in s.motions} == set(MOTION_KINDS)
    for spec in BENCHMARK_SUITE:
        assert spec.large_motion == any(m in LARGE_MOTIONS for m in spec.motions)
    spec = BENCHMARK_SUITE[0]
    scene = spec.make(num_points=200)
    assert [o["kind"] for o in scene.objects] == list(spec.objects) and scene.seed == spec.seed


def test_rotations_are_exact():
    from motion4d.world.scene import _rotmat_to_quat
    from motion4d.gaussians.geometry import quat_to_rotmat

    scene = make_scene(6, objects="box", motions="spin", num_points=100)
    _, rots, _ = scene.points_at(0.3)
    q = torch.from_numpy(_rotmat_to_quat(rots))
    assert torch.allclose(quat_to_rotmat(q), torch.from_numpy(rots), atol=1e-9)
    assert math.isclose(float(np.linalg.det(rots[0])), 1.0, abs_tol=1e-9)
