"""``motion4d app`` (the gradio web app) and ``motion4d view`` (the viser 4D viewer)."""
from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="web app: text / image / video to 4D in the browser (needs motion4d[app])",
                       description="Serve the motion4d web app (gradio). It binds 127.0.0.1 unless --host says "
                                   "otherwise; each browser session writes its runs under --runs in a folder named "
                                   "by a random token. One job runs at a time; others queue.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default: the first free one from 7860)")
    p.add_argument("--share", action="store_true", help="also open a public gradio share link")
    p.add_argument("--runs", default="outputs/app", help="folder of the sessions' runs (default outputs/app)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload, in MiB (default 50)")
    p.add_argument("--max-video-seconds", type=float, default=20.0, help="longest video upload (default 20 s)")
    p.add_argument("--max-video-side", type=int, default=1920, help="largest video/image side in pixels (1920)")
    p.add_argument("--max-images", type=int, default=8, help="most appearance images per job (default 8)")
    p.set_defaults(func=_app)

    v = sub.add_parser("view", help="viewer of a 4D result: splats with a time slider (needs motion4d[app])",
                       description="Open a viser viewer of a lift result folder or a text-to-4d / image-to-4d run "
                                   "folder: Gaussian splats per frame with a time slider, Play/Pause and speed, "
                                   "canonical vs deformed, the reference and training cameras, and the reference "
                                   "frame at the current time. --export-html writes one offline HTML file instead.")
    v.add_argument("run", help="lift result folder (result.json) or pipeline run folder (manifest.json)")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=8080, help="port (default 8080; the next free one if taken)")
    v.add_argument("--export-html", default=None, metavar="FILE", help="write a self-contained HTML and exit")
    v.add_argument("--max-gaussians", type=int, default=50000, help="Gaussians shown per frame (default 50000)")
    v.set_defaults(func=_view)


def _app(args) -> int:
    from pathlib import Path

    from motion4d.app import AppSettings, UploadLimits, launch

    limits = UploadLimits(max_file_mb=args.max_upload_mb, max_video_seconds=args.max_video_seconds,
                          max_video_side=args.max_video_side, max_images=args.max_images)
    launch(AppSettings(Path(args.runs), limits), host=args.host, port=args.port, share=args.share)
    return 0


def _view(args) -> int:
    from motion4d.view import export_html, serve

    if args.export_html:
        path = export_html(args.run, args.export_html, max_gaussians=args.max_gaussians)
        print(f"wrote {path}")
        return 0
    serve(args.run, host=args.host, port=args.port, max_gaussians=args.max_gaussians)
    return 0
