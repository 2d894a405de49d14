"""``motion4d eval RESULT [--gt SCENE] [--json OUT]``: score a 4D result against world ground truth, or a
text-to-4d / image-to-4d run folder against its request."""
from __future__ import annotations

import time
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="score a 4D result against a shapes-world scene, or a pipeline run "
                                           "against its request",
                              description="With --gt: render RESULT (a world scene folder, a video-to-4D result "
                                          "folder or a pipeline run folder) at the ground-truth cameras and frame "
                                          "times of SCENE and score every view and frame (PSNR, SSIM, mask IoU, "
                                          "flicker, Chamfer). Without --gt, RESULT must be a text-to-4d or "
                                          "image-to-4d run folder: it is scored against its request (CLIP score of "
                                          "turntable views against the prompt, multi-view consistency, motion "
                                          "agreement with the reference clip, and novel views against the scene a "
                                          "prompt of the shapes world's caption grammar describes).")
    p.add_argument("result", help="4D result folder (scene.json or result.json) or pipeline run folder "
                                  "(manifest.json)")
    p.add_argument("--gt", default=None, help="world scene folder with the ground truth (required unless RESULT is "
                                              "a pipeline run folder)")
    p.add_argument("--json", default=None, help="where to write the scores (JSON; default: print only)")
    p.add_argument("--views", nargs="+", default=None, metavar="NAME",
                   help="camera names to score (default: every novel view; 'ref' = the reference video)")
    p.add_argument("--frames", nargs="+", type=int, default=None, metavar="F", help="frame indices (default: all)")
    p.add_argument("--device", default="auto", help="render device: auto, cpu, cuda (default auto)")
    p.add_argument("--no-optional", action="store_true", help="skip the optional CLIP/LPIPS metrics")
    p.add_argument("--clip-model", default=None, metavar="ID_OR_DIR",
                   help="CLIP model: with --gt, for the optional caption similarity (default "
                        "openai/clip-vit-base-patch32, used only if already downloaded); for a run folder, for the "
                        "CLIP score (default: openai/clip-vit-base-patch32 when downloaded, else the shipped "
                        "tiny-clip)")
    p.set_defaults(func=_eval)


def _eval(args) -> int:
    from motion4d.cli import CLIError
    from motion4d.utils.run_dir import check_out_file

    if args.json is not None:
        check_out_file(args.json, option="--json", suffixes=(".json",))
    if args.gt is None:
        if not (Path(args.result) / "manifest.json").is_file():
            raise CLIError(f"--gt is required: {args.result!r} is not a text-to-4d / image-to-4d run folder (no "
                           f"manifest.json), so there is no request to score it against")
        return _eval_run(args)
    return _eval_gt(args)


def _eval_gt(args) -> int:
    from motion4d.evaluation import evaluate, load_scene4d

    start = time.perf_counter()
    result = load_scene4d(args.result)
    report = evaluate(result, args.gt, views=args.views, frames=args.frames, device=args.device,
                      optional=not args.no_optional, clip_model=args.clip_model, show_progress=True)
    report["result"], report["gt"] = str(args.result), str(args.gt)
    chamfer = "n/a" if report["chamfer"] is None else f"{report['chamfer']:.4f}"
    print(f"PSNR {report['psnr']:.2f} dB (capped at {report['psnr_cap']:g})  SSIM {report['ssim']:.4f}  "
          f"mask IoU {report['mask_iou']:.4f}  flicker {report['flicker']:.4f}  Chamfer {chamfer}")
    print(f"{report['num_views']} views x {report['num_frames']} frames in {time.perf_counter() - start:.1f} s")
    for key, reason in report["skipped"].items():
        print(f"skipped {key}: {reason}")
    _write(args.json, report)
    return 0


def _eval_run(args) -> int:
    import tempfile

    from motion4d.cli import CLIError
    from motion4d.evaluation import load_scene4d, score_request
    from motion4d.evaluation.request import read_clip, reference_camera, run_request

    if args.views or args.frames:
        raise CLIError("--views and --frames apply to --gt scoring; a run folder is scored on its turntable views "
                        "and the prompt's scene")
    start = time.perf_counter()
    prompt, video = run_request(args.result)
    result = load_scene4d(args.result)
    clip = None
    if video is not None:
        cam = reference_camera(result)
        clip = read_clip(video, result.num_frames, (cam.height, cam.width))
    with tempfile.TemporaryDirectory(prefix="motion4d-prompt-scene-") as tmp:
        report = score_request(result, prompt, reference_clip=clip, scene_dir=Path(tmp) / "scene",
                               clip_model=args.clip_model or "auto", device=args.device)
    report.update(result=str(args.result), prompt=prompt, reference_motion=str(video) if video else None)
    for key, value in report["scores"].items():
        print(f"{key:<28}{value:.4g}")
    for key, reason in report["skipped"].items():
        print(f"no {key}: {reason}")
    print(f"scored {args.result} against its request in {time.perf_counter() - start:.1f} s")
    _write(args.json, report)
    return 0


def _write(path, report) -> None:
    if path is not None:
        from motion4d.utils.io import write_json

        print(f"wrote {write_json(path, report)}")


__all__ = ["register"]
