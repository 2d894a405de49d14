"""One kNN (utils.knn) and one training-state module (utils.training_state)."""
import json

import pytest
import torch

from motion4d.utils.knn import knn
from motion4d.utils.training_state import Checkpoints, STATE_FILE, load_train_state, save_train_state


def test_knn_matches_brute_force_and_excludes_self():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(200, 3, generator=g)
    dist, idx = knn(pts, 5)
    d = torch.cdist(pts.double(), pts.double())
    d.fill_diagonal_(float("inf"))
    ref_d, ref_i = d.topk(5, largest=False)
    assert torch.equal(idx, ref_i) and torch.allclose(dist.double(), ref_d, atol=1e-6)
    dup = torch.cat([pts[:3], pts[:3]])  # coincident points: each still gets a neighbour other than itself
    _, di = knn(dup, 1)
    assert not (di[:, 0] == torch.arange(6)).any()
    q = torch.rand(7, 3, generator=g)
    qd, qi = knn(pts, 3, queries=q)
    assert torch.equal(qi, torch.cdist(q, pts).topk(3, largest=False).indices) and qd.shape == (7, 3)
    assert knn(pts[:1], 4)[1].shape == (1, 0) and knn(pts[:3], 9)[1].shape == (3, 2)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        knn(pts, 0)


def test_train_state_round_trip_restores_optimizer_and_generators(tmp_path):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4, 3))
    opt = torch.optim.AdamW([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    gen = torch.Generator().manual_seed(5)
    torch.rand(3, generator=gen)  # move it off its seed
    save_train_state(tmp_path / "s.safetensors", step=3, optimizers={"main": opt}, generators={"data": gen},
                     tensors={"w": w.detach()}, meta={"note": "x"})
    expect_next = torch.rand(4, generator=gen)
    w2 = torch.nn.Parameter(torch.zeros(4, 3))
    opt2 = torch.optim.AdamW([w2], lr=0.5)
    gen2 = torch.Generator().manual_seed(99)
    state = load_train_state(tmp_path / "s.safetensors", optimizers={"main": opt2}, generators={"data": gen2})
    assert state.step == 3 and state.meta == {"note": "x"} and set(state.tensors) == {"w"}
    assert torch.equal(torch.rand(4, generator=gen2), expect_next)
    a, b = opt.state_dict(), opt2.state_dict()
    assert b["param_groups"][0]["lr"] == 0.1
    for k in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(torch.as_tensor(a["state"][0][k]), torch.as_tensor(b["state"][0][k])), k
    with pytest.raises(ValueError, match="no optimizer 'other'"):
        load_train_state(tmp_path / "s.safetensors", optimizers={"other": opt2})
    with pytest.raises(ValueError, match="reserved prefixes"):
        save_train_state(tmp_path / "t.safetensors", step=0, tensors={"opt.x": w.detach()})


def _write(step):
    def write(folder):
        save_train_state(folder / STATE_FILE, step=step, tensors={"x": torch.tensor([float(step)])})
    return write


def test_checkpoints_one_naming_scheme_and_pruning_counts_only_this_run(tmp_path):
    old_run = Checkpoints(tmp_path, keep=2)
    for step in (100, 200, 300):
        old_run.save(step, _write(step))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000200", "step-000300"]
    new_run = Checkpoints(tmp_path, keep=2)  # a second run writing into the same folder
    for step in (10, 20, 30):
        new_run.save(step, _write(step))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["step-000020", "step-000030", "step-000200", "step-000300"]  # neither run ate the other
    latest = new_run.latest()
    assert latest.step == 30 and latest.run == new_run.run  # the last written, not the highest step
    resumed = Checkpoints(tmp_path, keep=2)
    resumed.resume_from(latest)
    resumed.save(40, _write(40))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000030", "step-000040", "step-000200", "step-000300"]
    info = json.loads((tmp_path / "step-000040" / "checkpoint.json").read_text())
    assert info["format"] == "motion4d.checkpoint/1" and info["run"] == new_run.run
    with pytest.raises(ValueError, match="must write state.safetensors"):
        resumed.save(50, lambda folder: None)
    assert not (tmp_path / "step-000050").exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())
