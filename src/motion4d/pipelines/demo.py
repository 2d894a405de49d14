"""``motion4d demo``: the paper's system on the embedded models, in one command.

A prompt of the shapes world's grammar plus a reference motion clip shipped with the package
(``motion4d/assets/demo/reference_motion.mp4``, with its caption in ``reference_motion.txt``) go through
:class:`~motion4d.pipelines.TextTo4DPipeline`: a temporal LoRA learns the clip's motion, the customized
tiny-t2v generates the prompt's object moving that way, the lift turns it into 4D Gaussians, and the run
ends with its exports, scores and ``report.html``.

The reference clip shows another object than the prompt (another colour and kind), so what the result takes
from it is the motion only. It is a deterministic render of shapes-world scene :data:`REFERENCE_SEED`;
:func:`render_reference_clip` makes it again (``tests/test_pipelines_demo.py`` checks that the shipped file is
that render).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["DEMO_PROMPT", "REFERENCE_SEED", "REFERENCE_FRAMES", "reference_clip_path", "render_reference_clip",
           "write_reference_clip", "run_text_to_4d_demo"]

#: What the demo asks for: a grammar caption (so ``motion4d eval`` can score it against the scene it describes).
DEMO_PROMPT = "an orange cube moving to the right"
#: The shapes-world scene whose front view is the reference motion clip (a purple capsule moving to the right).
REFERENCE_SEED = 3018
REFERENCE_FRAMES = 8
REFERENCE_SIZE = 64
REFERENCE_FPS = 8.0


def reference_clip_path() -> Path:
    """The shipped reference motion clip (an mp4 with ``reference_motion.txt``, its caption, beside it)."""
    return Path(__file__).resolve().parents[1] / "assets" / "demo" / "reference_motion.mp4"


def render_reference_clip() -> tuple[np.ndarray, str]:
    """The reference clip as uint8 RGB ``[REFERENCE_FRAMES, 64, 64, 3]`` over white, and its caption."""
    from motion4d.world import make_scene
    from motion4d.world.dataset import composite, render_rgba, scene_cameras

    scene = make_scene(REFERENCE_SEED, num_objects=1, motions="translate", num_frames=REFERENCE_FRAMES,
                       size=REFERENCE_SIZE, background=(1.0, 1.0, 1.0))
    cam = scene_cameras(scene, include_ref=True)[0]
    times = np.linspace(0.0, 1.0, REFERENCE_FRAMES)
    rgba = np.stack([render_rgba(scene.gaussians_at(float(t)), cam, scene.background)[0] for t in times])
    rgb = composite(rgba, (1.0, 1.0, 1.0)).numpy()
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8), scene.caption


def write_reference_clip(path: str | Path | None = None) -> Path:
    """Render the reference clip into ``path`` (default: the shipped file) plus its caption ``.txt``."""
    from motion4d.utils.io import atomic_path
    from motion4d.utils.media import write_mp4

    path = Path(path) if path is not None else reference_clip_path()
    frames, caption = render_reference_clip()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(frames, path, REFERENCE_FPS, quality=10, bitexact=True)
    with atomic_path(path.with_suffix(".txt")) as tmp:
        tmp.write_text(caption + "\n")
    return path


def run_text_to_4d_demo(out: str | Path = "outputs/demo", *, quick: bool = True, overrides: tuple[str, ...] = (),
                        overwrite: bool = False, log: Callable[[str], None] = print):
    """Run ``text-to-4d`` on :data:`DEMO_PROMPT` with the shipped reference motion into ``out``.

    ``quick`` selects the ``quick`` preset (minutes on a CPU with the embedded models), else ``default``.
    Re-running continues the run (see :class:`~motion4d.pipelines.TextTo4DPipeline`). Returns its
    :class:`~motion4d.pipelines.TextTo4DResult`.
    """
    from motion4d.pipelines import TextTo4DPipeline, load_text_to_4d_config

    clip = reference_clip_path()
    if not clip.is_file():
        raise FileNotFoundError(f"the demo's reference clip {str(clip)!r} is missing from this installation; "
                                f"write it again with `python -m motion4d.pipelines.demo`")
    cfg = load_text_to_4d_config(DEMO_PROMPT, preset="quick" if quick else "default", motion=[str(clip)],
                                 overrides=list(overrides))
    log(f"demo: text-to-4d {DEMO_PROMPT!r} with the motion of {clip.name} "
        f"({clip.with_suffix('.txt').read_text().strip()!r})")
    return TextTo4DPipeline(cfg)(out, overwrite=overwrite)


if __name__ == "__main__":          # python -m motion4d.pipelines.demo: write the shipped reference clip again
    print(write_reference_clip())
