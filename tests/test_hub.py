"""The model table (motion4d.hub.MODELS): complete rows, one entry per model, a download command that works
with the installed huggingface_hub, and built-in folders."""
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from motion4d import hub
from motion4d.hub import ALIASES, MODELS, ModelInfo, ModelNotFoundError, download_command, resolve_pretrained


def test_every_row_is_complete_and_keyed_by_its_own_key():
    assert len(MODELS) >= 8
    for key, info in MODELS.items():
        assert isinstance(info, ModelInfo) and info.key == key
        owner, _, name = info.hub_id.partition("/")
        assert owner and name and "/" not in name, info.hub_id
        assert info.task and info.license and info.used_by, key
        assert info.size_gb is None or info.size_gb > 0, key
        assert info.builtin is None or not Path(info.builtin).is_absolute(), key
    assert len({m.hub_id for m in MODELS.values()}) == len(MODELS)            # one row per model
    assert all(target in MODELS for target in ALIASES.values())
    assert hub.model_info("zero123") is MODELS["zero123-xl"]
    assert hub.model_info("cerspense/zeroscope_v2_576w") is MODELS["zeroscope"]


def test_no_module_registers_models_at_import_time():
    import motion4d.cli.models  # noqa: F401
    import motion4d.guidance.loading  # noqa: F401
    import motion4d.metrics.optional as optional
    import motion4d.video.backbones.unet3d as backbone

    assert not hasattr(hub, "register_model")
    assert backbone.ZEROSCOPE is MODELS["zeroscope"] and optional.CLIP_MODEL is MODELS["clip-vit-b32"]


def test_download_command_matches_the_installed_huggingface_hub_and_runs():
    major = int(version("huggingface_hub").split(".")[0])
    cmd = download_command("owner/name")
    assert cmd == ("hf download owner/name" if major >= 1 else "huggingface-cli download owner/name")
    assert MODELS["mvdream"].download_command == download_command("ashawkey/mvdream-sd2.1-diffusers")
    exe = Path(sys.executable).parent / cmd.split()[0]      # the CLI installed next to this interpreter
    assert exe.is_file(), f"{exe} is missing: the instruction '{cmd}' would not work"
    out = subprocess.run([str(exe), "download", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "REPO_ID" in out.stdout.upper()


def test_missing_model_message_gives_size_and_command(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=r"3\.7 GB\. Download it once with\n\s+" +
                       download_command("cerspense/zeroscope_v2_576w").replace(".", r"\.")):
        resolve_pretrained("zeroscope", purpose="text-to-video")


def test_builtin_rows_resolve_to_their_package_folder(monkeypatch):
    import motion4d

    monkeypatch.setitem(MODELS, "tiny-test", ModelInfo("tiny-test", "motion4d/tiny-test", "test", None, "MIT",
                                                      "tests", builtin="presets/guidance"))
    folder = resolve_pretrained("tiny-test")
    assert folder == Path(motion4d.__file__).parent / "presets" / "guidance" and folder.is_dir()
    monkeypatch.setitem(MODELS, "tiny-gone", ModelInfo("tiny-gone", "motion4d/tiny-gone", "test", None, "MIT",
                                                      "tests", builtin="no/such/folder"))
    with pytest.raises(ModelNotFoundError, match="(?s)built-in model 'tiny-gone' has no weights.*motion4d zoo train"):
        resolve_pretrained("tiny-gone")
