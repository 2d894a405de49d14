"""The gradio Blocks of ``motion4d app``: tabs per route, a gallery, live progress, outputs, Cancel.

Each browser session gets a random token (``gr.State``) naming its folder under ``AppSettings.runs_root``;
runs, the gallery and Cancel only ever look inside that folder. Run events share one concurrency slot
(``concurrency_id="gpu"``), so gradio's queue shows later jobs their position; :data:`GPU_LOCK` keeps one
job on the accelerator even when a cancelled job is still finishing its step.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from motion4d.app.jobs import Job, stage_table
from motion4d.app.limits import LORA_SUFFIXES, UploadError
from motion4d.app.outputs import run_outputs, session_runs, zip_run
from motion4d.app.routes import ADVANCED_KEYS, PRESETS, AppSettings, image_job, models_in_use, new_session, \
    text_job, video_job
from motion4d.utils.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["build_app", "POLL_S"]

POLL_S = 0.5


def _status(job: Job) -> str:
    rows = stage_table(job.run_dir)
    if job.waiting:
        head = "**waiting** for the job before this one to finish"
    elif job.running:
        head = "**running**"
    elif job.cancelled:
        head = "**cancelled**: the job stopped at its next step; finished stages are kept in the run folder"
    elif job.error:
        head = f"**failed**: {job.error}"
    else:
        head = "**done**"
    lines = [head, ""]
    for name, status, seconds in rows:
        mark = {"done": "✓", "running": "…", "failed": "✗"}.get(status, "·")
        lines.append(f"- {mark} stage **{name}**: {status}" + (f" ({seconds:.1f} s)" if seconds else ""))
    if job.running and job.step:
        desc, n, total = job.step
        lines.append(f"\n{desc or 'step'} {n}/{total if total else '?'}")
    if job.lines and (job.error or job.running):
        lines.append(f"\n`{job.lines[-1][:200]}`")
    return "\n".join(lines)


def _fraction(job: Job) -> tuple[float, str]:
    rows = stage_table(job.run_dir)
    if not rows:
        return 0.0, "starting"
    done = sum(s == "done" for _, s, _ in rows)
    current = next((n for n, s, _ in rows if s == "running"), None)
    frac = done
    if current and job.step and job.step[2]:
        frac += min(job.step[1] / job.step[2], 1.0)
    return frac / len(rows), f"stage {current or '…'}"


def build_app(settings: AppSettings):
    """The ``gr.Blocks`` of the app (not launched); see :func:`motion4d.app.launch`."""
    import gradio as gr

    jobs: dict[str, Job] = {}
    models = models_in_use(settings)

    def session_dir(token: str) -> Path:
        return settings.runs_root / token

    def follow(job: Job, token: str, progress):
        """Stream the status and the generated clip (as soon as it exists) while the job runs."""
        jobs[token] = job
        job.start()
        shown_clip = None
        while job.running:
            frac, desc = _fraction(job)
            progress(frac, desc=desc)
            clip = run_outputs(job.run_dir)["clip"]
            yield _status(job), (str(clip) if clip and clip != shown_clip else gr.skip())
            shown_clip = clip or shown_clip
            time.sleep(POLL_S)
        clip = run_outputs(job.run_dir)["clip"]
        yield _status(job), _s(clip)

    def finish(token):
        """The final outputs (a separate, non-streaming event: Model3D mounts its viewer only then)."""
        job = jobs.get(token or "")
        if job is None:
            return None, None, None, None
        files = run_outputs(job.run_dir)
        archive = None
        if job.run_dir.is_dir():
            archive = zip_run(job.run_dir, job.run_dir.parent / f"{job.run_dir.parent.name}.zip")
        return _s(files["glb"]), _s(files["ply"]), _s(files["turntable"]), _s(archive)

    def _s(p: Path | None):
        return str(p) if p else None

    def start(make, token, *args):
        token = token or new_session(settings)
        try:
            return make(token, *args), token
        except (UploadError, ValueError, OSError) as e:     # bad input, config or missing model: say so
            raise gr.Error(str(e), duration=None) from None

    def run_text(token, prompt, motion, appearance, preset, *adv, progress=gr.Progress()):
        job, token = start(lambda t, *a: text_job(settings, t, *a), token, prompt, motion, appearance, preset,
                           dict(zip(ADVANCED_KEYS["text-to-4d"], adv)))
        yield from follow(job, token, progress)

    def run_image(token, image, preset, *adv, progress=gr.Progress()):
        job, token = start(lambda t, *a: image_job(settings, t, *a), token, image, preset,
                           dict(zip(ADVANCED_KEYS["image-to-4d"], adv)))
        yield from follow(job, token, progress)

    def run_video(token, video, preset, *adv, progress=gr.Progress()):
        job, token = start(lambda t, *a: video_job(settings, t, *a), token, video, preset,
                           dict(zip(ADVANCED_KEYS["video-to-4d"], adv)))
        yield from follow(job, token, progress)

    def cancel(token):
        job = jobs.get(token or "")
        if job is None or not job.running:
            return "nothing is running in this session"
        stopped = job.cancel(wait_s=120)
        return _status(job) if stopped else "cancel requested; the job stops at its next step"

    def gallery(token):
        rows = session_runs(session_dir(token)) if token else []
        table = [[r["name"], r["route"], r["status"], r["prompt"]] for r in rows]
        return table, gr.update(choices=[r["name"] for r in rows], value=None)

    def open_run(token, name):
        names = [r["name"] for r in session_runs(session_dir(token))] if token else []
        if name not in names:                       # only this session's own runs, by their listed names
            raise gr.Error("pick one of this session's runs from the list")
        run = session_dir(token) / name / "run"
        files = run_outputs(run)
        archive = run.parent / f"{name}.zip"
        return (f"run **{name}**", _s(files["clip"]), _s(files["glb"]), _s(files["ply"]), _s(files["turntable"]),
                _s(archive if archive.is_file() else None))

    video_types = list(VIDEO_EXTENSIONS)
    image_types = list(IMAGE_EXTENSIONS)
    with gr.Blocks(title="motion4d", analytics_enabled=False) as demo:
        token = gr.State(None)
        gr.Markdown("# motion4d\nText, image or video in; an animated 4D object out (Gaussians, GLB, videos).")
        gr.Markdown("**Models:** " + "; ".join(f"{k}: `{v}`" for k, v in models.items() if k != "notes")
                    + (f"\n\n{models['notes']}" if "notes" in models else ""), elem_id="models")
        buttons = []
        with gr.Tabs():
            with gr.Tab("Text to 4D", id="text"):
                prompt = gr.Textbox(label="Prompt", placeholder="a red ball jumping", elem_id="prompt", max_length=500)
                motion = gr.File(label="Motion (optional): reference videos, or one saved motion LoRA (.safetensors)",
                                 file_count="multiple", file_types=video_types + list(LORA_SUFFIXES),
                                 elem_id="motion")
                appearance = gr.File(label="Appearance (optional): reference images", file_count="multiple",
                                     file_types=image_types, elem_id="appearance")
                t_preset, t_adv = _settings(gr, "text-to-4d")
                buttons.append(("text", gr.Button("Generate", variant="primary", elem_id="run-text"),
                                run_text, [token, prompt, motion, appearance, t_preset, *t_adv]))
            with gr.Tab("Image to 4D", id="image"):
                image = gr.File(label="Image of the object (PNG with alpha is best)", file_types=image_types,
                                elem_id="image")
                i_preset, i_adv = _settings(gr, "image-to-4d")
                buttons.append(("image", gr.Button("Generate", variant="primary", elem_id="run-image"),
                                run_image, [token, image, i_preset, *i_adv]))
            with gr.Tab("Video to 4D", id="video"):
                video = gr.File(label="Video of the object", file_types=video_types, elem_id="video")
                v_preset, v_adv = _settings(gr, "video-to-4d")
                buttons.append(("video", gr.Button("Lift to 4D", variant="primary", elem_id="run-video"),
                                run_video, [token, video, v_preset, *v_adv]))
            with gr.Tab("Gallery", id="gallery"):
                refresh = gr.Button("Refresh", elem_id="refresh")
                table = gr.Dataframe(headers=["run", "route", "status", "prompt / image"], interactive=False,
                                     elem_id="runs")
                pick = gr.Dropdown(label="Open a run", choices=[], elem_id="pick")
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            clip = gr.Video(label="Generated clip", elem_id="clip", autoplay=True, loop=True)
            turntable = gr.Video(label="Turntable", elem_id="turntable", autoplay=True, loop=True)
        with gr.Row():
            glb = gr.Model3D(label="Animated GLB", elem_id="glb", clear_color=(0.95, 0.95, 0.95, 1.0))
            ply = gr.Model3D(label="Canonical Gaussians (PLY)", elem_id="ply")
        archive = gr.File(label="Run folder (zip)", elem_id="zip")
        outputs = [status, clip, glb, ply, turntable, archive]
        for name, button, fn, inputs in buttons:
            button.click(fn, inputs, [status, clip], concurrency_limit=1, concurrency_id="gpu",
                         api_name=f"run_{name}", show_progress="full").success(
                finish, [token], [glb, ply, turntable, archive], queue=False)
        cancel_btn.click(cancel, [token], [status], queue=False)
        refresh.click(gallery, [token], [table, pick], queue=False)
        pick.input(open_run, [token, pick], outputs, queue=False)
        demo.load(lambda: new_session(settings), None, [token], queue=False)
    return demo


def _settings(gr, route: str) -> tuple[Any, list]:
    preset = gr.Radio(list(PRESETS), value="quick", label="Preset (quick: minutes on a CPU; default: the paper's "
                                                          "settings, needs a GPU)", elem_id=f"preset-{route}")
    with gr.Accordion("Advanced", open=False):
        gr.Markdown("Empty fields keep the preset's value.")
        fields = [gr.Number(label=key, value=None, precision=None, elem_id=f"adv-{route}-{key}".replace(".", "-"))
                  for key in ADVANCED_KEYS[route]]
    return preset, fields
