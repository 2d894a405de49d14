"""Optional metrics: CLIP runs from a local folder (tiny model built offline); absent weights are skipped."""
import math

import pytest
import torch

from _metrics_clip import tiny_clip
from _world_helpers import tiny_scene
from motion4d.hub import ModelNotFoundError
from motion4d.evaluation import evaluate
from motion4d.metrics.optional import available, clip_similarity
from motion4d.world import write_scene


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def test_clip_similarity_from_a_local_folder(clip_dir):
    assert available(str(clip_dir))["clip"] is None
    imgs = torch.rand(3, 40, 40, 3, generator=torch.Generator().manual_seed(0))
    imgs[2] = imgs[0]
    score = clip_similarity(imgs, "lower newer", model=str(clip_dir))
    assert score.shape == (3,) and torch.isfinite(score).all() and score.abs().max() <= 100
    assert score[0] == score[2] and score[0] != score[1]


def test_missing_weights_are_reported_not_downloaded(tmp_path):
    reason = available(str(tmp_path / "no-such-clip"))["clip"]
    assert reason is not None and "does not exist" in reason
    assert "lpips" in available()
    with pytest.raises(ModelNotFoundError):
        clip_similarity(torch.rand(1, 8, 8, 3), "x", model="someone/not-a-cached-model")


def test_evaluate_uses_clip_when_present_and_skips_it_otherwise(clip_dir, tmp_path):
    scene = tiny_scene(8, num_frames=2, azimuths=[0.0])
    folder = write_scene(scene, tmp_path / "s", show_progress=False, video=False, gaussians=False)
    with_clip = evaluate(scene, folder, clip_model=str(clip_dir))
    assert math.isfinite(with_clip["optional"]["clip"]) and "clip" not in with_clip["skipped"]
    without = evaluate(scene, folder, clip_model=str(tmp_path / "absent"))
    assert without["optional"]["clip"] is None and "does not exist" in without["skipped"]["clip"]
    assert without["chamfer"] is None  # no gaussians/ folder was written
