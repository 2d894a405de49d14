"""Issue #16 defect 2: non-finite values reaching the deformation field stop with a clear error instead of
killing the process (torch's CPU grid_sample backward segfaults on NaN grid coordinates)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from motion4d.deform import DeformConfig, DeformationField, HexPlaneField, NonFiniteError

SCRIPT = """
import torch
from motion4d.deform import DeformConfig, DeformationField, NonFiniteError
field = DeformationField(DeformConfig(resolution=[4, 4, 4, 3], channels=4, width=8),
                         torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]))
points = torch.zeros(6, 3, requires_grad=True)
moved = points * torch.tensor([1.0, float("{value}"), 1.0])
try:
    field(moved, 0.5).means.sum().backward()
except NonFiniteError as e:
    print("refused:", e)
else:
    print("trained")
"""


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_nan_points_do_not_crash_backward(value):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", SCRIPT.format(value=value)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, f"rc {res.returncode} (-11 = segfault): {res.stderr[-500:]}"
    if value == "nan":
        assert "refused: the deformation field got non-finite coordinates (NaN or inf) for 6 of 6" in res.stdout
        assert "resume from an earlier checkpoint" in res.stdout
    else:  # inf * 0 = nan for the zero points: refused too, never a crash
        assert "refused" in res.stdout


def test_finite_points_pass_and_error_is_a_value_error():
    grid = HexPlaneField((4, 4, 4, 3), channels=2)
    assert grid(torch.zeros(3, 4)).shape == (3, 2)
    bad = torch.zeros(3, 4)
    bad[1, 3] = float("nan")
    with pytest.raises(ValueError, match="non-finite coordinates .* for 1 of 3 points"):
        grid(bad)
    assert issubclass(NonFiniteError, ValueError)
    field = DeformationField(DeformConfig(resolution=[4, 4, 4, 3], channels=2, width=8),
                             torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]))
    assert torch.isfinite(field(torch.full((2, 3), 1e30), 0.3).means).all()  # huge but finite: clamped
