"""Exports stay inside the scene: the GLB's vertices move no farther than the Gaussians near them, and faint
far-off Gaussians (floaters) are dropped before export."""
import numpy as np
import torch
from _export_scenes import CanonicalBlobScene, ball_gaussians, ball_interior_density

from motion4d.export import PrunedScene, export_animated_glb, export_ply_sequence, floater_mask, prune_floaters
from motion4d.gaussians import Gaussians, load_ply


class WildFieldScene(CanonicalBlobScene):
    """A lift-like scene whose field is sane on the Gaussians (a 0.2 shift in +x) but explodes outside their
    centres (radius ``rmax``): points at radius r move by an extra 40 * (r - rmax) units."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rmax = float(self.base.means.norm(dim=-1).max())

    def motion(self, points, t):
        r = points.norm(dim=-1, keepdim=True)
        out = points.clone()
        out[:, :1] = out[:, :1] + t * (0.2 + 40.0 * (r - self.rmax).clamp_min(0))
        return out


def test_glb_vertices_never_travel_farther_than_the_gaussians(tmp_path):
    import pygltflib

    scene = WildFieldScene(num_frames=3)
    gauss_max = float((scene.gaussians_at(1.0).means - scene.canonical.means).norm(dim=-1).max())
    assert abs(gauss_max - 0.2) < 1e-5
    # the field itself, at the mesh's vertices, would throw them far away (the bug this guards against)
    path = export_animated_glb(scene, tmp_path / "a.glb", resolution=24, threshold=ball_interior_density() / 8)
    gltf = pygltflib.GLTF2().load_binary(str(path))
    blob = gltf.binary_blob()
    prim = gltf.meshes[0].primitives[0]

    def arr(i):
        acc, view = gltf.accessors[i], gltf.bufferViews[gltf.accessors[i].bufferView]
        return np.frombuffer(blob, np.float32, acc.count * 3, view.byteOffset + (acc.byteOffset or 0)).reshape(-1, 3)

    base = arr(prim.attributes.POSITION)
    frames = [base + arr(t["POSITION"]) for t in prim.targets]
    canon_r = np.linalg.norm(frames[0], axis=1)
    wild = 0.2 + 40.0 * (canon_r - scene.rmax).clip(min=0)  # the mesh reaches outside the Gaussians' centres
    assert wild.max() > 0.6
    vertex_max = max(float(np.linalg.norm(f - frames[0], axis=1).max()) for f in frames)
    assert vertex_max <= 1.1 * gauss_max + 1e-4
    assert vertex_max >= 0.95 * gauss_max  # vertices still follow the motion


def _floater_scene():
    core = ball_gaussians(radius=0.3, step=0.1, opacity=0.9)
    n = len(core)
    faint_far = Gaussians.from_rgb(torch.tensor([[2.5, 0.0, 0.0], [0.0, 3.0, 0.5], [-2.8, 0.1, 0.0]]),
                                   torch.full((3, 3), 0.5), torch.full((3, 3), 0.05), torch.full((3,), 0.05))
    faint_near = Gaussians.from_rgb(torch.tensor([[0.1, 0.1, 0.0], [0.35, 0.0, 0.0]]), torch.full((2, 3), 0.5),
                                    torch.full((2, 3), 0.05), torch.full((2,), 0.05))
    opaque_far = Gaussians.from_rgb(torch.tensor([[0.0, 0.0, 2.0]]), torch.full((1, 3), 0.5),
                                    torch.full((1, 3), 0.05), torch.full((1,), 0.9))
    return Gaussians.cat([core, faint_far, faint_near, opaque_far]), n


class _Drift:
    """The floater scene; Gaussian ``n + 3`` (faint, near at t=0) drifts 2 units away by t=1."""

    num_frames = 3

    def __init__(self):
        self.g, self.n = _floater_scene()

    def gaussians_at(self, t):
        means = self.g.means.clone()
        means[self.n + 3, 0] += 2.0 * t
        return self.g.replace(means=means)


def test_floater_mask_drops_faint_far_gaussians_only():
    g, n = _floater_scene()
    keep = floater_mask([g])
    expect = torch.ones(len(g), dtype=torch.bool)
    expect[n:n + 3] = False  # faint and far: dropped; faint near ones and the opaque far one stay
    assert torch.equal(keep, expect)
    # a faint Gaussian that only wanders off in a later frame is dropped from every frame
    scene = _Drift()
    pruned, dropped = prune_floaters(scene)
    assert dropped == 4 and isinstance(pruned, PrunedScene)
    assert not bool(pruned.keep[n + 3]) and bool(pruned.keep[n + 4])


def test_ply_sequence_without_floaters(tmp_path):
    pruned, _ = prune_floaters(_Drift())
    paths = export_ply_sequence(pruned, tmp_path / "ply")
    sizes = {len(load_ply(p).means) for p in paths}
    assert sizes == {len(pruned.gaussians_at(0.0))}
    for p in paths:
        means = load_ply(p).means.detach()
        assert float(means[:, :2].abs().max()) < 0.5 and float(means.norm(dim=-1).max()) <= 2.0 + 1e-5
