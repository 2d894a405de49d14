"""Shared helpers for the guidance tests: tiny checkpoints (built once per process) and fixtures."""
import pytest
import torch

from motion4d.guidance.tiny import MV_TINY, tiny_mvdream, tiny_sd, tiny_video, tiny_zero123  # noqa: F401


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and the test machine's cores are shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
