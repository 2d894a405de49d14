"""``motion4d video-to-4d``, ``motion4d render`` and ``motion4d demo``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    from motion4d.cli._types import seed

    p = sub.add_parser("video-to-4d", help="lift a clip (video, frames, multi-view capture) to 4D Gaussians",
                       description="Lift a clip to a 4D Gaussian scene (canonical Gaussians + HexPlane deformation "
                                   "field) and export PLY / video / mesh / animated GLB.")
    p.add_argument("input", help="video file (mp4 gif webm mov), folder of frames, multi-view folder "
                                 "(cameras.json + <camera>/000.png) or shapes-world scene folder")
    p.add_argument("--out", required=True, help="run folder (result.json is written last)")
    p.add_argument("--preset", default="default", help="lift preset: default, low, demo, multiview (default: default)")
    p.add_argument("--config", default=None, help="YAML config file applied after the preset")
    p.add_argument("--allow-code", action="store_true",
                   help="let --config set a code hook (input.segmentation: module:function); off by default so "
                        "that a config file cannot run code")
    p.add_argument("--static", default=None, help="3DGS PLY to use as the canonical model (skips the static stage)")
    p.add_argument("--views", default=None, help="extra calibrated views: multi-view folder or shapes-world scene")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --out (same input and config only)")
    p.add_argument("--overwrite", action="store_true",
                   help="allow an --out that holds other files or a run of another input (that run is replaced)")
    p.add_argument("--prompt", default=None, help="text prompt for text-conditioned guidance (sd, vsd, mvdream, "
                   "video); same as prompt=...")
    p.add_argument("--negative-prompt", default=None, help="text for the guidance's unconditional branch")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. dynamic.iters=200")
    p.set_defaults(func=_video_to_4d)

    r = sub.add_parser("render", help="render a lift result at any time and view",
                       description="Render a lift result folder at normalised time T. A calibrated run draws its own "
                                   "cameras by default (the reference view, or --camera NAME, with their intrinsics); "
                                   "--elevation/--azimuth/--radius give an orbit camera with the run's field of view; "
                                   "--cameras FILE.json renders every camera of FILE at every frame time into the "
                                   "folder --out (<camera>/000.png ..., RGBA).")
    r.add_argument("result", help="lift result folder (has result.json)")
    r.add_argument("--time", type=float, default=0.0, help="normalised time in [0, 1] (default 0)")
    r.add_argument("--camera", default=None, help="a named camera of the run (training or held-out view of a "
                                                  "calibrated run; see cameras.json in the run folder)")
    r.add_argument("--cameras", default=None, help="camera JSON: render all its cameras at all frame times into the "
                                                   "folder --out")
    r.add_argument("--elevation", type=float, default=None, help="orbit camera: degrees above the horizon (default 0)")
    r.add_argument("--azimuth", type=float, default=None, help="orbit camera: degrees, 0 = the reference (front) view")
    r.add_argument("--radius", type=float, default=None, help="orbit camera distance (default: the reference camera's)")
    r.add_argument("--fovy", type=float, default=None, help="vertical field of view in degrees (default: the run's)")
    r.add_argument("--size", type=int, default=None, help="image height in pixels (default: the camera's, 256 for "
                                                          "an orbit camera of an uncalibrated run)")
    r.add_argument("--out", required=True, help="output image: .png, .jpg/.jpeg or .webp (written in that format); "
                                                "a folder with --cameras")
    r.set_defaults(func=_render)

    d = sub.add_parser("demo", help="the main job on the embedded models: text + reference motion -> 4D",
                       description="--route text-to-4d (default): run text-to-4d on a prompt of the shapes world's "
                                   "grammar with the reference motion clip shipped with motion4d (motion LoRA, "
                                   "customized clip, lift, exports, scores, report.html). --route video-to-4d: "
                                   "make a shapes-world scene, lift it to 4D from some of its views with the "
                                   "multiview preset, export everything and score the held-out views.")
    d.add_argument("--route", choices=("text-to-4d", "video-to-4d"), default="text-to-4d",
                   help="which demo (default text-to-4d)")
    d.add_argument("--quick", action="store_true", help="CPU-sized settings (the quick presets; minutes on 2 cores)")
    d.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    d.add_argument("--seed", type=seed, default=None, help="shapes-world seed (default: the demo's fixed scene)")
    d.add_argument("--overwrite", action="store_true",
                   help="replace a demo made with other settings in --out (or write into a foreign folder)")
    d.add_argument("--threads", default="auto",
                   help="CPU threads for torch and the numba renderer: a number, or 'auto' (default): one thread "
                        "when the machine is already busy (load average >= cores), where extra threads only spin")
    d.add_argument("overrides", nargs="*", metavar="key=value", help="lift config overrides")
    d.set_defaults(func=_demo)


def _video_to_4d(args) -> int:
    from motion4d.lift import lift, load_lift_config

    cfg = load_lift_config(args.preset, file=args.config, overrides=args.overrides, allow_code=args.allow_code)
    if args.prompt is not None:
        cfg.prompt = args.prompt
    if args.negative_prompt is not None:
        cfg.negative_prompt = args.negative_prompt
    out = Path(args.out)
    result = lift(args.input, out, cfg, static=args.static, views=args.views, resume=args.resume,
                  overwrite=args.overwrite)
    info = result.metadata
    print(f"\nvideo-to-4d done: {info['num_gaussians']} Gaussians, {info['num_frames']} frames, "
          f"guidance: {info['guidance']}")
    print(f"  result folder  {out}")
    for key in ("canonical", "deformation"):
        if info.get(key):
            print(f"  {key:<14} {out / info[key]}")
    for key, value in info["files"].items():
        if key in ("canonical", "deformation", "config"):
            continue
        shown = value if isinstance(value, str) else (str(Path(value[0]).parent) + f"/ ({len(value)} files)"
                                                      if value else "(none)")
        print(f"  {key:<14} {out / shown}")
    return 0


#: Image formats ``render --out`` writes, by suffix (Pillow format names).
RENDER_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def _render(args) -> int:
    import numpy as np
    from PIL import Image

    from motion4d.evaluation.views import render_camera_file, render_views, to_uint8
    from motion4d.lift import load_result
    from motion4d.utils.io import atomic_path
    from motion4d.utils.run_dir import check_out_dir, check_out_file

    _check_render_args(args)
    result = load_result(args.result)
    if args.cameras is not None:
        out_dir = check_out_dir(args.out)
        paths = render_camera_file(result, args.cameras, out_dir)
        print(f"rendered {len(paths)} images ({len(paths) // result.num_frames} cameras x {result.num_frames} "
              f"frames, RGBA): {out_dir}")
        return 0
    out = check_out_file(args.out, suffixes=RENDER_FORMATS)
    cam, what = _render_camera(result, args)
    bg = result.metadata.get("background", [1.0, 1.0, 1.0])
    gaussians = result.gaussians_at(args.time)
    bad = int((~_finite_rows(gaussians)).sum())
    if bad:
        raise ValueError(f"{args.result}: {bad} of {len(gaussians)} Gaussians at t={args.time} are not finite "
                         f"(NaN or inf); the result is broken, retrain it")
    rgb, alpha = render_views(result, cam, [args.time], bg)
    with atomic_path(out) as tmp:
        Image.fromarray(to_uint8(rgb[0, 0])).save(tmp, format=RENDER_FORMATS[out.suffix.lower()])
    print(f"rendered t={args.time} {what}: {out}")
    if float(alpha.max()) < 1.0 / 255:
        print(f"warning: the image is empty (none of the {len(gaussians)} Gaussians covers a pixel); try another "
              f"--camera, --radius, --elevation or --azimuth", file=sys.stderr)
    return 0


def _check_render_args(args) -> None:
    import math

    if not 0.0 <= args.time <= 1.0:
        raise ValueError(f"--time must be in [0, 1] (normalised time), got {args.time}")
    if args.size is not None and not 8 <= args.size <= 8192:
        raise ValueError(f"--size must be 8..8192 pixels, got {args.size}")
    for name in ("elevation", "azimuth"):
        v = getattr(args, name)
        if v is not None and not math.isfinite(v):
            raise ValueError(f"--{name} must be a finite number of degrees, got {v}")
    if args.radius is not None and not (math.isfinite(args.radius) and args.radius > 0):
        raise ValueError(f"--radius must be a finite distance > 0, got {args.radius}")
    if args.fovy is not None and not (math.isfinite(args.fovy) and 0 < args.fovy < 180):
        raise ValueError(f"--fovy must be in (0, 180) degrees, got {args.fovy}")
    orbit = any(getattr(args, k) is not None for k in ("elevation", "azimuth", "radius"))
    if args.cameras is not None and (args.camera is not None or orbit):
        raise ValueError("--cameras renders the cameras of its file; it cannot be combined with --camera, "
                         "--elevation, --azimuth or --radius")
    if args.camera is not None and orbit:
        raise ValueError(f"--camera {args.camera!r} is a calibrated camera; it cannot be combined with --elevation, "
                         f"--azimuth or --radius (those make an orbit camera)")


def _render_camera(result, args):
    """``(cameras [1], description)`` for ``motion4d render`` (see its --help)."""
    import math

    from motion4d.camera import Cameras, fov_to_focal
    from motion4d.evaluation.views import run_cameras

    cams = run_cameras(result)
    names = list(cams.names or []) if cams is not None else []
    orbit = any(getattr(args, k) is not None for k in ("elevation", "azimuth", "radius")) or cams is None
    if args.camera is not None:
        if args.camera not in names:
            raise ValueError(f"--camera {args.camera!r} is not a camera of this run; it has: "
                             f"{', '.join(names) or '(no named cameras: an uncalibrated run)'}")
        cam, what = cams[names.index(args.camera)], f"camera {args.camera}"
    elif not orbit:
        ref = "ref" if "ref" in names else (result.metadata.get("training_views") or names or [None])[0]
        cam = cams[names.index(ref)] if ref in names else cams[0]
        what = f"camera {ref or 'reference'}"
    if orbit:
        ref_cam = cams[0] if cams is not None else None
        radius = args.radius if args.radius is not None else (
            float(ref_cam.centers[0].norm()) if ref_cam is not None else 2.5)
        fovy = float(result.metadata.get("resolved_config", {}).get("camera", {}).get("fovy", 49.1))
        size = 256
        if ref_cam is not None:  # the run's own intrinsics: field of view of its reference camera
            fovy = math.degrees(2 * math.atan(ref_cam.height / (2 * float(ref_cam.Ks[0, 1, 1]))))
            size = ref_cam.height
        el = args.elevation if args.elevation is not None else 0.0
        az = args.azimuth if args.azimuth is not None else 0.0
        cam = Cameras.orbit(el, az, radius, fovy, size, None)
        what = f"elevation={el} azimuth={az} radius={radius:.3g}"
    if args.size is not None:
        cam = cam.resized(max(1, round(args.size * cam.width / cam.height)), args.size)
    if args.fovy is not None:
        K = cam.Ks.clone()
        scale = fov_to_focal(args.fovy, cam.height) / float(K[0, 1, 1])
        K[:, 0, 0] *= scale
        K[:, 1, 1] *= scale
        cam = Cameras(cam.viewmats, K, cam.width, cam.height, cam.elevation, cam.azimuth, cam.radius, cam.names)
        what += f" fovy={args.fovy}"
    return cam, what


def _finite_rows(g):
    """``[N]`` bool: every attribute of Gaussian i is finite."""
    import torch

    parts = [g.means, g.scales, g.quats, g.opacities.reshape(len(g), -1), g.sh.reshape(len(g), -1)]
    return torch.stack([torch.isfinite(p).all(-1) for p in parts]).all(0)


def _set_threads(spec: str) -> int | None:
    """Apply ``--threads`` (a number or 'auto'); returns the thread count set, or None."""
    import os

    if spec == "auto":
        cores = os.cpu_count() or 1
        if not hasattr(os, "getloadavg") or os.getloadavg()[0] < cores:
            return None
        n = 1
    else:
        try:
            n = int(spec)
        except ValueError:
            raise ValueError(f"--threads must be a positive integer or 'auto', got {spec!r}") from None
        if n < 1:
            raise ValueError(f"--threads must be >= 1, got {n}")
    import numba
    import torch

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return n


def _demo(args) -> int:
    from motion4d.evaluation.demo import DEMO_SEED, run_demo

    threads = _set_threads(args.threads)
    if threads is not None:
        print(f"using {threads} CPU thread(s) (--threads {args.threads})")
    if args.route == "text-to-4d":
        from motion4d.pipelines.demo import run_text_to_4d_demo

        if args.seed is not None:
            raise ValueError("--seed chooses the scene of --route video-to-4d; the text-to-4d demo's prompt and "
                             "reference clip are fixed (run `motion4d text-to-4d` for your own)")
        run_text_to_4d_demo(args.out, quick=args.quick, overrides=tuple(args.overrides), overwrite=args.overwrite)
        return 0

    s = run_demo(args.out, quick=args.quick, seed=DEMO_SEED if args.seed is None else args.seed,
                 overrides=tuple(args.overrides), overwrite=args.overwrite)
    m = s.metrics
    print(f"\ndemo done in {s.seconds:.0f}s: held-out views ({len(m['heldout_views'])}) "
          f"PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}, mask IoU {m['mask_iou']:.3f} "
          f"(canonical held still: PSNR {m['static_only']['psnr']:.2f} dB)")
    for name in ("metrics.json", "canonical.ply", "animation.glb", "turntable.mp4", "reference.mp4"):
        if (s.out / name).is_file():
            print(f"  {name:<15} {s.out / name}")
    print(f"  {'scene':<15} {s.scene}\n  {'lift result':<15} {s.result}")
    return 0
