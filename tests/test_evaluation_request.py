"""Request scores (motion4d.evaluation.request): each on a constructed case whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from motion4d.camera import Cameras
from motion4d.gaussians import Gaussians
from motion4d.world import PALETTE, make_scene, scene_from_caption

SIZE = 32
CAM = Cameras.orbit(0.0, 0.0, 2.5, 49.1, SIZE)


class Lifted:
    """A Scene4D with a reference camera, as a lift result has (``metadata["reference_camera"]``)."""

    def __init__(self, scene, num_frames: int = 4):
        self.scene, self.num_frames, self.path = scene, num_frames, None
        self.metadata = {"reference_camera": CAM.to_dict()}

    def times(self):
        return [f / (self.num_frames - 1) for f in range(self.num_frames)]

    def gaussians_at(self, t):
        return self.scene.gaussians_at(t)


class Static:
    def __init__(self, g):
        self.g = g

    def gaussians_at(self, t):
        return self.g


def _points(n=1500, flat=False, seed=0):
    p = torch.nn.functional.normalize(torch.randn(n, 3, generator=torch.Generator().manual_seed(seed)), dim=-1) * 0.5
    if flat:
        p[:, 2] = 0.0                                   # a cut-out facing the reference camera (+Z)
    return p


def _gaussians(points, rgb):
    n = len(points)
    return Gaussians.from_rgb(points, rgb, torch.full((n, 3), 0.03), torch.full((n,), 0.95))


# ------------------------------------------------------------------------------------- consistency
def test_multiview_consistency_tells_a_solid_from_a_cut_out_and_a_one_sided_colour():
    from motion4d.evaluation.consistency import multiview_consistency, turntable_views

    red = torch.tensor(PALETTE["red"]).expand(1500, 3)
    ball = multiview_consistency(*turntable_views(Static(_gaussians(_points(), red)), CAM, times=[0.0]))
    flat = multiview_consistency(*turntable_views(Static(_gaussians(_points(flat=True), red)), CAM, times=[0.0]))
    pts = _points()
    back_blue = torch.where(pts[:, 2:] > 0, red, torch.tensor(PALETTE["blue"]))
    sided = multiview_consistency(*turntable_views(Static(_gaussians(pts, back_blue)), CAM, times=[0.0]))
    assert ball["mv_area_ratio"] > 0.85 and flat["mv_area_ratio"] < 0.3
    assert ball["mv_colour_dist"] < 0.05 and sided["mv_colour_dist"] > 0.3
    with pytest.raises(ValueError, match="A >= 2"):
        multiview_consistency(torch.zeros(1, 1, 4, 4, 3), torch.zeros(1, 1, 4, 4))


def test_turntable_cameras_orbit_the_reference_camera():
    from motion4d.evaluation.consistency import orbit_of, turntable_cameras

    ref = Cameras.orbit(20.0, 30.0, 3.0, 40.0, 24, 16)
    cams = turntable_cameras(ref, [0.0, 90.0])
    assert torch.allclose(cams.viewmats[0], ref.viewmats[0], atol=1e-5)
    bare = Cameras(ref.viewmats, ref.Ks, 24, 16)                      # no orbit metadata: read from the pose
    o = orbit_of(bare)
    assert o["elevation"] == pytest.approx(20.0, abs=1e-3) and o["azimuth"] == pytest.approx(30.0, abs=1e-3)
    assert o["radius"] == pytest.approx(3.0, abs=1e-4) and o["fovy"] == pytest.approx(40.0, abs=1e-3)
    assert float(cams.azimuth[1]) == pytest.approx(120.0) and cams.height == 16


# ------------------------------------------------------------------------------------- CLIP score
class ColourStub:
    """Embeds an image as its mean non-white colour and a text as the palette colour of its first colour word."""

    def embed_images(self, images):
        x = torch.as_tensor(images).reshape(len(images), -1, 3)
        fg = (1 - x).amax(-1, keepdim=True) > 0.15
        return torch.nn.functional.normalize((x * fg).sum(1) / fg.sum(1).clamp_min(1) - 0.4, dim=-1)

    def embed_texts(self, texts):
        rows = [next(torch.tensor(PALETTE[w]) for w in t.split() if w in PALETTE) for t in texts]
        return torch.nn.functional.normalize(torch.stack(rows) - 0.4, dim=-1)


def test_clip_functions_rank_and_count_with_any_text_image_model():
    from motion4d.evaluation.clip_score import clip_text_score, zero_shot

    img = torch.ones(3, 8, 8, 3)
    img[:, 2:6, 2:6] = torch.tensor(PALETTE["green"])
    stub = ColourStub()
    right, wrong = clip_text_score(img, "a green ball", stub), clip_text_score(img, "a purple ball", stub)
    assert right["mean"] == pytest.approx(1.0, abs=1e-5) and wrong["mean"] < 0.5 and len(right["per_image"]) == 3
    z = zero_shot(img, "green", "cube", stub)
    assert z["colour_acc"] == 1.0 and z["colours"] == ["green"] * 3
    with pytest.raises(ValueError, match="main colours"):
        zero_shot(img, "white", "cube", stub)
    with pytest.raises(ValueError, match="non-empty prompt"):
        clip_text_score(img, " ", stub)


def test_tiny_clip_prefers_the_true_caption_of_rendered_scenes():
    """tiny-clip's colour zero-shot is ~62 % accurate, so the assertion is on a mean over scenes."""
    from motion4d.evaluation.clip_score import clip_text_score
    from motion4d.evaluation.consistency import turntable_views
    from motion4d.zoo.clip import MAIN_COLORS

    cam = Cameras.orbit(0.0, 0.0, 2.5, 49.1, 64)
    diffs = []
    for i, colour in enumerate(("red", "blue", "yellow", "green", "purple", "orange")):
        caption = f"a {colour} {('ball', 'cylinder', 'box')[i % 3]} bouncing"
        scene = scene_from_caption(caption, seed=i, num_frames=2, size=64, num_points=1200)
        rgb, _ = turntable_views(scene, cam, times=[0.5], azimuths=[0.0, 90.0, 180.0, 270.0])
        other = MAIN_COLORS[(MAIN_COLORS.index(colour) + 4) % len(MAIN_COLORS)]
        images = rgb.reshape(-1, 64, 64, 3)
        diffs.append(clip_text_score(images, caption)["mean"]
                     - clip_text_score(images, caption.replace(colour, other, 1))["mean"])
    assert np.mean(diffs) > 0.1 and np.mean(np.array(diffs) > 0) >= 4 / 6


def test_auto_picks_a_real_clip_when_local_and_a_named_missing_one_is_a_clear_error(monkeypatch):
    import motion4d.hub as hub
    from motion4d.evaluation.clip_score import ClipScorer, resolve_clip
    from motion4d.evaluation.request import score_request
    from motion4d.hub import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="does not exist"):
        ClipScorer("/nonexistent/clip-folder").embed_texts(["a red ball"])
    scene = scene_from_caption("a red ball bouncing", num_frames=2, size=SIZE, num_points=200)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        score_request(Lifted(scene, 2), "a red ball bouncing", clip_model="/nonexistent/clip-folder")
    monkeypatch.setattr(hub, "is_present", lambda key: key == "clip-vit-b32")
    assert resolve_clip("auto") == "clip-vit-b32" and resolve_clip("my/clip") == "my/clip"
    monkeypatch.setattr(hub, "is_present", lambda key: False)
    assert resolve_clip("auto") == "tiny-clip"


# ------------------------------------------------------------------------------------- motion, prompt scene
def test_motion_agreement_is_small_for_the_same_motion_and_large_for_the_mirrored_one():
    from motion4d.evaluation.request import motion_agreement
    from motion4d.evaluation.views import render_views

    scene = scene_from_caption("a red ball moving to the right", seed=3, num_frames=4, size=SIZE, num_points=800)
    result = Lifted(scene)
    clip = render_views(scene, CAM, result.times(), (1.0, 1.0, 1.0))[0][0].numpy()
    same, mirrored = motion_agreement(result, clip), motion_agreement(result, clip[:, :, ::-1].copy())
    assert same["velocity_err"] < 0.2 and mirrored["velocity_err"] > 2.0
    double = np.repeat(np.repeat(clip, 2, axis=1), 2, axis=2)             # another size: resampled
    assert motion_agreement(result, double)["velocity_err"] < 0.5


def test_the_prompt_scene_scores_the_scene_it_describes_above_another(tmp_path):
    from motion4d.evaluation.request import score_request

    caption = "a blue cube bouncing"
    kw = dict(num_frames=3, size=SIZE, background=(1.0, 1.0, 1.0))      # the prompt scene's defaults
    own = score_request(Lifted(scene_from_caption(caption, seed=0, **kw), 3), caption, scene_dir=tmp_path / "a",
                        clip_model="tiny-clip")
    other = score_request(Lifted(make_scene(5, objects="robot", motions="walk", **kw), 3), caption,
                          scene_dir=tmp_path / "b", clip_model="tiny-clip")
    assert own["details"]["prompt_scene"]["caption"] == caption and "el+00_az000" not in \
        own["details"]["prompt_scene"]["views"]
    assert own["scores"]["gt_psnr"] > 40 and own["scores"]["gt_mask_iou"] > 0.95
    assert other["scores"]["gt_psnr"] < own["scores"]["gt_psnr"] - 15 and other["scores"]["gt_mask_iou"] < 0.7
    assert set(own["scores"]) >= {"clip_score", "clip_colour_acc", "clip_kind_acc", "mv_area_ratio", "mv_colour_dist"}
    free = score_request(Lifted(make_scene(5, **kw), 3), "a shiny teapot dancing", scene_dir=tmp_path / "c",
                         clip_model="tiny-clip")
    assert not any(k.startswith("gt_") for k in free["scores"]) and "clip_score" in free["scores"]
    assert "grammar" in free["skipped"]["gt"] and "\n" not in free["skipped"]["gt"]
    assert not (tmp_path / "c").exists()
