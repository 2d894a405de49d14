"""``motion4d models``: the table/JSON of every model, presence in the local hub cache, and loading
a guidance by hub id from that cache (the same path a real download takes)."""
import json

import pytest
import torch

from _guidance_tiny import one_thread, tiny_zero123  # noqa: F401
from motion4d.cli import main
from motion4d.guidance import Condition, GuidanceConfig, build_guidance
from motion4d.hub import download_command

pytestmark = pytest.mark.usefixtures("one_thread")

REQUIRED = {"zero123-xl": "ashawkey/zero123-xl-diffusers", "stable-zero123": "ashawkey/stable-zero123-diffusers",
            "mvdream": "ashawkey/mvdream-sd2.1-diffusers", "zeroscope": "cerspense/zeroscope_v2_576w",
            "modelscope": "damo-vilab/text-to-video-ms-1.7b", "sd21-base": "stabilityai/stable-diffusion-2-1-base"}


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache; ``add(hub_id, folder)`` puts a snapshot of ``folder`` in it."""
    import shutil

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))

    def add(hub_id, folder):
        repo = tmp_path / ("models--" + hub_id.replace("/", "--"))
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("0" * 40)
        shutil.copytree(folder, repo / "snapshots" / ("0" * 40))
    return add


def test_models_json_lists_every_required_model_with_presence(hub_cache, tmp_path, capsys):
    out = tmp_path / "models.json"
    assert main(["models", "--json", str(out)]) == 0
    rows = {r["key"]: r for r in json.loads(out.read_text())}
    for key, hub_id in REQUIRED.items():
        r = rows[key]
        assert r["hub_id"] == hub_id and r["present"] is False and r["path"] is None
        assert r["download"] == download_command(hub_id) and r["license"] and r["task"] and r["used_by"]
    assert rows["zeroscope"]["license"] == rows["modelscope"]["license"] == "cc-by-nc-4.0"
    assert rows["mvdream"]["size"] == "unknown" and rows["zeroscope"]["size"] == "3.7 GB"
    assert "wrote" in capsys.readouterr().out
    hub_cache("ashawkey/zero123-xl-diffusers", tiny_zero123())
    assert main(["models", "--json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["zero123-xl"]["present"] is True and rows["stable-zero123"]["present"] is False


def test_models_table_and_hub_id_loading_from_cache(hub_cache, capsys):
    hub_cache("ashawkey/zero123-xl-diffusers", tiny_zero123())
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "ashawkey/mvdream-sd2.1-diffusers" in text and "present locally" in text
    g = build_guidance(GuidanceConfig(type="zero123", height=8, width=8))       # default model: zero123-xl
    loss = g(torch.rand(1, 8, 8, 3), Condition(image=torch.rand(8, 8, 3), elevation=10, azimuth=40, radius=2),
             step=0)["sds"]
    assert torch.isfinite(loss)


def test_text_to_video_entries_name_both_stages():
    from motion4d.cli.models import model_rows

    rows = {r["key"]: r for r in model_rows()}
    assert "guidance type video" in rows["zeroscope"]["used_by"]
    assert "motion4d.video" in rows["zeroscope"]["used_by"]
