"""``motion4d eval RESULT --gt SCENE --json OUT``: score a 4D result against world ground truth."""
from __future__ import annotations

import time


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="score a 4D result against a shapes-world scene",
                              description="Render RESULT (a world scene folder or a video-to-4D result folder) "
                                          "at the ground-truth cameras and frame times of SCENE and score every "
                                          "view and frame (PSNR, SSIM, mask IoU, flicker, Chamfer).")
    p.add_argument("result", help="4D result folder (scene.json or result.json)")
    p.add_argument("--gt", required=True, help="world scene folder with the ground truth")
    p.add_argument("--json", required=True, help="where to write the scores (JSON)")
    p.add_argument("--views", nargs="+", default=None, metavar="NAME",
                   help="camera names to score (default: every novel view; 'ref' = the reference video)")
    p.add_argument("--frames", nargs="+", type=int, default=None, metavar="F", help="frame indices (default: all)")
    p.add_argument("--device", default="auto", help="render device: auto, cpu, cuda (default auto)")
    p.add_argument("--no-optional", action="store_true", help="skip the optional CLIP/LPIPS metrics")
    p.add_argument("--clip-model", default=None, metavar="ID_OR_DIR",
                   help="CLIP for the optional caption similarity (default openai/clip-vit-base-patch32, "
                        "used only if already downloaded)")
    p.set_defaults(func=_eval)


def _eval(args) -> int:
    from motion4d.evaluation import evaluate, load_scene4d
    from motion4d.utils.io import write_json
    from motion4d.utils.run_dir import check_out_file

    check_out_file(args.json, option="--json", suffixes=(".json",))
    start = time.perf_counter()
    result = load_scene4d(args.result)
    report = evaluate(result, args.gt, views=args.views, frames=args.frames, device=args.device,
                      optional=not args.no_optional, clip_model=args.clip_model, show_progress=True)
    report["result"], report["gt"] = str(args.result), str(args.gt)
    out = write_json(args.json, report)
    chamfer = "n/a" if report["chamfer"] is None else f"{report['chamfer']:.4f}"
    print(f"PSNR {report['psnr']:.2f} dB (capped at {report['psnr_cap']:g})  SSIM {report['ssim']:.4f}  "
          f"mask IoU {report['mask_iou']:.4f}  flicker {report['flicker']:.4f}  Chamfer {chamfer}")
    print(f"{report['num_views']} views x {report['num_frames']} frames in {time.perf_counter() - start:.1f} s")
    for key, reason in report["skipped"].items():
        print(f"skipped {key}: {reason}")
    print(f"wrote {out}")
    return 0


__all__ = ["register"]
