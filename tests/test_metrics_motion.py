"""The motion measures recover known motion and rank clips by motion, not appearance."""
import numpy as np
import pytest

from _video_tiny import moving_square_clip
from motion4d.metrics.motion import global_shifts, motion_distance


def test_global_shifts_recover_known_translation():
    clip = moving_square_clip(6, size=32, square=10, dx=2, dy=1)
    shifts = global_shifts(clip)
    assert shifts.shape == (5, 2)
    np.testing.assert_allclose(shifts, np.tile([2.0, 1.0], (5, 1)), atol=0.3)
    np.testing.assert_allclose(global_shifts(clip.flip(0)), np.tile([-2.0, -1.0], (5, 1)), atol=0.3)
    np.testing.assert_allclose(global_shifts(moving_square_clip(4, dx=0, dy=0)), 0.0, atol=1e-6)


def test_motion_distance_ignores_appearance():
    ref = moving_square_clip(6, dx=2, dy=1)
    same_motion_other_look = moving_square_clip(6, dx=2, dy=1, colour=(0.2, 0.9, 0.3), background=(0.8, 0.1, 0.1),
                                                square=8, start=(6, 3))
    other_motion = moving_square_clip(6, dx=-1, dy=2)
    d_same = motion_distance(same_motion_other_look, ref)
    d_other = motion_distance(other_motion, ref)
    assert d_same["shift_err"] < 0.5 < 2.0 < d_other["shift_err"]
    assert motion_distance(ref, ref)["shift_err"] == 0.0
    with pytest.raises(ValueError, match="different frame counts"):
        motion_distance(moving_square_clip(4), ref)


def test_channels_do_not_cancel_and_velocity_err():
    """Latent channels may carry opposite-signed copies of an object: their mean is blank, yet the shift is
    found from the summed cross-power spectra."""
    clip = moving_square_clip(6, size=32, square=10, dx=2, dy=-1, start=(2, 12))
    grey = clip.mean(-1, keepdim=True)
    two_signs = np.concatenate([grey.numpy(), -grey.numpy()], axis=-1)  # channel mean is exactly 0
    np.testing.assert_allclose(global_shifts(two_signs), np.tile([2.0, -1.0], (5, 1)), atol=0.3)
    d = motion_distance(two_signs, moving_square_clip(6, dx=0, dy=0))
    assert d["velocity_err"] == pytest.approx(np.hypot(2.0, 1.0), abs=0.3)


def test_max_shift_limits_the_search():
    fast = moving_square_clip(3, size=32, square=8, dx=6, dy=0, start=(1, 10))
    assert global_shifts(fast)[0, 0] == pytest.approx(6.0, abs=0.3)
    limited = global_shifts(fast, max_shift=2)
    assert np.all(np.abs(limited) <= 2.5)
    with pytest.raises(ValueError, match="max_shift"):
        global_shifts(fast, max_shift=-1)
