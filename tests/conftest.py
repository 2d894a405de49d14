import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MOTION4D_NO_PROGRESS", "1")


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _video_tests_on_one_thread(request):
    """The text-to-video tests run torch on one thread: on the shared 2-core test machine two threads per
    xdist worker made the tiny UNet up to 20x slower (docs/benchmarks.md)."""
    if not request.module.__name__.startswith("test_video_"):
        yield
        return
    from _video_tiny import single_thread

    yield from single_thread()


@pytest.fixture(scope="module")
def bb(tmp_path_factory):
    """The tiny text-to-video backbone (tests/_video_tiny.py), saved in diffusers layout and loaded back."""
    from _video_tiny import load_tiny, tiny_model_dir

    return load_tiny(tiny_model_dir(tmp_path_factory))
