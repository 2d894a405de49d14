import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MOTION4D_NO_PROGRESS", "1")


import pytest  # noqa: E402


#: test modules whose tiny models run torch on one thread
ONE_THREAD_MODULES = ("test_video_", "test_lift_guided", "test_presets_smoke", "test_pipelines_", "test_zoo")


@pytest.fixture(autouse=True, scope="module")
def _tiny_model_tests_on_one_thread(request):
    """Tests of tiny diffusion models run torch on one thread: on the shared 2-core test machine two threads
    per xdist worker made the tiny UNet up to 20x slower (docs/benchmarks.md)."""
    if not request.module.__name__.startswith(ONE_THREAD_MODULES):
        yield
        return
    from _video_tiny import single_thread

    yield from single_thread()


@pytest.fixture(scope="module")
def bb(tmp_path_factory):
    """The tiny text-to-video backbone (tests/_video_tiny.py), saved in diffusers layout and loaded back."""
    from _video_tiny import load_tiny, tiny_model_dir

    return load_tiny(tiny_model_dir(tmp_path_factory))
