"""``motion4d app``: a gradio web app over :mod:`motion4d.pipelines` (text-, image- and video-to-4D, gallery).

gradio is an optional dependency (``pip install motion4d[app]``), imported only by :func:`build_app` and
:func:`launch`. Safety of a web-facing tool: the server binds 127.0.0.1 unless told otherwise, uploads are
bounded (:class:`UploadLimits`) and copied to server-made names, each browser session writes into a folder
named by a random token, and gradio's analytics are off.
"""
from __future__ import annotations

import os
from pathlib import Path

from motion4d.app.jobs import GPU_LOCK, Job, JobCancelled
from motion4d.app.limits import UploadError, UploadLimits
from motion4d.app.routes import AppSettings, models_in_use

__all__ = ["AppSettings", "UploadLimits", "UploadError", "Job", "JobCancelled", "GPU_LOCK", "build_app", "launch",
           "models_in_use", "require_gradio"]


def require_gradio():
    """Import gradio with analytics off, or say how to install it."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio
    except ImportError:
        raise ImportError("motion4d app needs gradio: pip install 'motion4d[app]'") from None
    return gradio


def build_app(settings: AppSettings):
    """The app's ``gr.Blocks`` (not launched)."""
    require_gradio()
    from motion4d.app.ui import build_app as _build

    return _build(settings)


def launch(settings: AppSettings, *, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
           block: bool = True):
    """Build, queue (one job at a time) and serve the app; returns ``(demo, local_url)`` when ``block=False``."""
    demo = build_app(settings)
    settings.runs_root.mkdir(parents=True, exist_ok=True)
    demo.queue(default_concurrency_limit=1, max_size=64)
    _, url, _ = demo.launch(server_name=host, server_port=port, share=share, quiet=not block,
                            max_file_size=settings.limits.max_file_bytes, allowed_paths=[str(settings.runs_root)],
                            prevent_thread_lock=not block, show_error=True)
    return demo, url
