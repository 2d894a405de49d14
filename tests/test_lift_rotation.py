"""Rotation recovery: a cube with a different colour on each face turns 90 degrees about Y; the lift's Gaussians
must turn with it (rotation measured by Procrustes between canonical and deformed means).

Known gap (issue #11, docs/notes/lift2.md): at this size the multiview preset's dynamic stage turns the cube by
about 40 degrees, not 90; coarse-to-fine in time, learning-rate decay, a 3x learning rate and the isometry loss
did not help in short runs. The test is a strict xfail: it fails the suite as soon as the lift reaches the
target (XPASS), so that the marker is removed then.
"""
import pytest

from motion4d.evaluation.motion import procrustes, rotation_about
from motion4d.lift import lift, load_lift_config
from motion4d.world import SceneSpec, write_scene


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="issue #11: the dynamic stage under-rotates (about 40 of 90 degrees)")
def test_textured_cube_turning_90_degrees_is_recovered(tmp_path):
    spec = SceneSpec("cube", 201, ("box",), ("spin",), faces=True, spin=(0.0, 1.0, 0.0, 90.0))
    scene = spec.make(num_frames=5, size=32, num_points=1500, elevations=[0.0, 30.0],
                      azimuths=[0, 90, 180, 270])
    write_scene(scene, tmp_path / "scene", show_progress=False, video=False)
    cfg = load_lift_config("multiview", overrides=[
        "output.export=false", "output.preview_every=0", "output.checkpoint_every=0",
        f"camera.background={list(scene.background)}", "static.iters=100", "static.num_points=1200",
        "dynamic.iters=150"])
    res = lift(tmp_path / "scene", tmp_path / "run", cfg, log=lambda s: None)
    c = res.canonical
    keep = c.opacities > 0.3
    r, _ = procrustes(c.means[keep], res.gaussians_at(1.0).means[keep], c.opacities[keep])
    truth, _ = procrustes(scene.gaussians_at(0.0).means, scene.gaussians_at(1.0).means)
    assert abs(rotation_about(truth, [0, 1, 0])) == pytest.approx(90.0, abs=0.5)
    assert abs(rotation_about(r, [0, 1, 0]) - rotation_about(truth, [0, 1, 0])) <= 10.0
