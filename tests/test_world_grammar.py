"""The caption grammar read back (parse_caption) and the scene a caption describes (scene_from_caption)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from motion4d.world import (CaptionParseError, caption_from_description, make_scene, make_suite, parse_caption,
                            scene_from_caption)

FIELDS = ("noun", "kind", "colors", "pattern", "motion", "verb")
SMALL = dict(num_frames=2, size=8, num_points=80)


@pytest.mark.parametrize("start", [0, 1_000, 2_000_000])        # train, other, test-split seeds
def test_captions_of_many_scenes_parse_back_to_their_description(start):
    scenes = [make_scene(s, **SMALL) for s in range(start, start + 60)]
    scenes += [spec.make(**SMALL) for spec in make_suite("test")]      # faces boxes, set spins, trios
    for scene in scenes:
        parsed = parse_caption(scene.caption)
        assert caption_from_description(parsed) == scene.caption
        truth = scene.spec["description"]["objects"]
        assert parsed["num_objects"] == len(truth)
        for got, want in zip(parsed["objects"], truth):
            if want["pattern"] == "faces":                      # captioned with its first colour only
                assert got["colors"] == want["colors"][:1] and got["pattern"] == "solid"
                continue
            assert {k: got[k] for k in FIELDS} == {k: want[k] for k in FIELDS}, scene.caption
            sides = [d for d in want["direction"] if d not in ("clockwise", "counterclockwise")]
            assert got["direction"] == sides


def test_user_spelling_is_normalised():
    d = parse_caption("  An ORANGE ball   bouncing, a red and blue cube moving to the left, and a green dog walking. ")
    assert [o["noun"] for o in d["objects"]] == ["ball", "cube", "dog"]
    assert d["objects"][1]["colors"] == ["red", "blue"] and d["objects"][1]["direction"] == ["left"]
    assert caption_from_description(d) == ("an orange ball bouncing, a red and blue cube moving to the left and a "
                                           "green dog walking")


@pytest.mark.parametrize("text, word", [("a red ball", "the end"), ("a dog running", "'dog' (word 2)"),
                                        ("the red ball bouncing", "'the' (word 1)"), ("a red ball flying", "'flying'"),
                                        ("a red ball bouncing and", "the end"),
                                        ("a red and blue cube with green stripes spinning", "two-tone")])
def test_text_outside_the_grammar_names_the_word_that_does_not_fit(text, word):
    with pytest.raises(CaptionParseError, match="grammar") as e:
        parse_caption(text)
    assert word in str(e.value)
    with pytest.raises(CaptionParseError, match="empty"):
        parse_caption("  ")


def _front(scene, t):
    from motion4d.world.dataset import render_rgba

    return render_rgba(scene.gaussians_at(t), scene.cameras(size=32)[0], scene.background)[0]


@pytest.mark.parametrize("seed", range(0, 48, 2))
def test_a_scene_built_from_a_caption_has_that_caption_and_shows_what_it_says(seed):
    from motion4d.world import PALETTE

    source = make_scene(2_000_000 + seed, **SMALL)
    built = scene_from_caption(source.caption, seed=seed + 1, **SMALL)
    assert built.caption == source.caption
    for obj, want in zip(built.objects, parse_caption(source.caption)["objects"]):
        assert obj["kind"] == want["kind"] and [m["kind"] for m in obj["motions"]] == want["motion"]
    if built.spec["description"]["num_objects"] != 1:
        return
    want = parse_caption(source.caption)["objects"][0]
    a, b = _front(built, 0.0), _front(built, 1.0)
    fg = a[..., 3] > 200
    if want["pattern"] == "solid" and want["kind"] not in ("snowman", "robot", "dog"):
        pal = torch.tensor([PALETTE[c] for c in PALETTE])
        nearest = torch.cdist(torch.from_numpy(a[fg][:, :3] / 255.0).float(), pal).argmin(1)
        assert list(PALETTE)[int(torch.bincount(nearest).argmax())] == want["colors"][0]
    if want["direction"] in (["left"], ["right"]) and want["motion"] in (["translate"], ["jump"]):
        shift = np.nonzero(b[..., 3] > 128)[1].mean() - np.nonzero(fg)[1].mean()
        assert (shift > 1.0) if want["direction"] == ["right"] else (shift < -1.0)


def test_captions_the_world_cannot_build_say_why():
    for text, why in (("a red dog waving its arm", "no arm"), ("a blue and red robot walking", "one main colour"),
                      ("a red ball walking", "no legs"), ("a red cube spinning and bouncing", "one"),
                      ("a red cube wagging its tail", "no tail")):
        with pytest.raises(ValueError, match=why):
            scene_from_caption(text, **SMALL)
    still = scene_from_caption("a gray cone standing still and a red cube moving towards the camera", **SMALL)
    assert still.objects[0]["motions"] == [] and still.caption.endswith("moving towards the camera")
    assert np.allclose(still.points_at(0.0)[0][:10], still.points_at(1.0)[0][:10])
