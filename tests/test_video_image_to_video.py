"""Image -> driving video (Stable Video Diffusion) on a tiny random pipeline saved in the diffusers layout."""
from __future__ import annotations

import numpy as np
import pytest

from _svd_tiny import build_tiny_svd
from motion4d.hub import ModelNotFoundError
from motion4d.video.image_to_video import ImageToVideoSettings, image_to_video, load_svd


@pytest.fixture(scope="module")
def svd_dir(tmp_path_factory):
    return build_tiny_svd(tmp_path_factory.mktemp("svd") / "tiny-svd")


def test_image_to_video_is_seeded_and_shaped(svd_dir):
    pipe = load_svd(str(svd_dir), device="cpu")
    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 8:24] = (220, 40, 40)
    s = ImageToVideoSettings(frames=4, width=32, height=32, steps=2, decode_chunk_size=2)
    a = image_to_video(image, s, seed=3, pipe=pipe)
    b = image_to_video(image, s, seed=3, pipe=pipe)
    c = image_to_video(image, s, seed=4, pipe=pipe)
    assert a.shape == (4, 32, 32, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_bad_settings_and_missing_model_are_clear(svd_dir, tmp_path):
    with pytest.raises(ValueError, match="multiple of 8"):
        image_to_video(np.zeros((8, 8, 3)), ImageToVideoSettings(width=30), pipe=object())
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        image_to_video(np.zeros((8, 8)), ImageToVideoSettings(), pipe=object())
    with pytest.raises(ModelNotFoundError, match="download"):
        load_svd("stabilityai/stable-video-diffusion-img2vid-not-here")
