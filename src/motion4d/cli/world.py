"""``motion4d world make | sample | preview``: shapes-world scenes, suites and contact sheets."""
from __future__ import annotations

import time
from pathlib import Path


def register(subparsers) -> None:
    from motion4d.cli._types import finite_float, seed
    from motion4d.world.motions import MOTION_KINDS
    from motion4d.world.objects import OBJECT_KINDS
    from motion4d.world.options import SceneOptions

    world = subparsers.add_parser("world", help="procedural 4D scenes with ground truth (shapes world)",
                                  description="Make shapes-world scenes: a reference video, ground-truth novel "
                                              "views and Gaussians for every frame, a caption.")
    sub = world.add_subparsers(dest="world_command", metavar="SUBCOMMAND")

    def common(p):
        SceneOptions.add_arguments(p)  # --frames --size --fps --points ... from motion4d.world.SceneOptions
        p.add_argument("--no-views", action="store_true", help="write only the reference video")
        p.add_argument("--no-ply", action="store_true", help="skip the per-frame ground-truth PLYs")
        p.add_argument("--device", default="auto", help="render device: auto, cpu, cuda (default auto)")

    make = sub.add_parser("make", help="make one scene", description="Make one scene from a seed.")
    make.add_argument("--seed", type=seed, required=True, help="random seed (same seed, same files)")
    make.add_argument("--out", required=True, help="scene folder to write (new, empty, or an earlier 'world make' "
                                                   "folder; the scene's files are replaced atomically)")
    make.add_argument("--overwrite", action="store_true",
                      help="write into a non-empty folder that motion4d did not make (other files are kept)")
    make.add_argument("--objects", type=int, choices=[1, 2, 3], default=None, help="number of objects")
    make.add_argument("--object", dest="object_kind", action="append", choices=OBJECT_KINDS, default=None,
                      help="force the object kind (repeat once per object)")
    make.add_argument("--motion", action="append", choices=MOTION_KINDS, default=None,
                      help="force the motion kind (repeat once per object)")
    common(make)
    make.set_defaults(func=_make)

    sample = sub.add_parser("sample", help="make a suite of scenes",
                            description="Make N scenes with consecutive seeds, or a named suite (--suite).")
    sample.add_argument("n", type=int, nargs="?", default=None, help="number of scenes (omit with --suite)")
    sample.add_argument("--out", required=True, help="suite folder (one scene folder per scene + suite.json)")
    sample.add_argument("--seed-start", type=seed, default=0, help="first seed (default 0)")
    sample.add_argument("--suite", default=None, help="a named suite instead of N random scenes: benchmark, dev or test (the video-to-4D splits)")
    sample.add_argument("--overwrite", action="store_true",
                        help="re-render scenes that are already complete; also allows a non-empty folder that "
                             "motion4d did not make (other files are kept)")
    sample.add_argument("--sheet", action="store_true", help="also write OUT/sheet.png (a contact sheet)")
    common(sample)
    sample.set_defaults(func=_sample)

    preview = sub.add_parser("preview", help="contact sheet of a scene or suite",
                             description="One tile per scene: several reference frames and the caption.")
    preview.add_argument("path", help="a scene folder or a suite folder")
    preview.add_argument("--out", required=True, help="PNG to write")
    preview.add_argument("--frames", type=int, default=4, help="frames per tile (default 4)")
    preview.add_argument("--columns", type=int, default=3, help="tiles per row (default 3)")
    preview.add_argument("--tile", type=int, default=96, help="frame size in the sheet, pixels (default 96)")
    preview.set_defaults(func=_preview)
    world.set_defaults(func=lambda args: (world.print_help(), 1)[1])


def _scene_kwargs(args) -> dict:
    from motion4d.world.options import SceneOptions

    return SceneOptions.from_args(args).kwargs()


def _write_kwargs(args) -> dict:
    return dict(views=not args.no_views, gaussians=not args.no_ply, device=args.device)


def _summary(path: Path) -> str:
    return f"{path}/  (reference/, views/, gaussians/, reference.mp4, scene.json, cameras.json)"


def _make(args) -> int:
    from motion4d.utils.run_dir import prepare_run_dir
    from motion4d.world import make_scene, write_scene

    start = time.perf_counter()
    scene = make_scene(args.seed, num_objects=args.objects, objects=args.object_kind, motions=args.motion,
                       **_scene_kwargs(args))
    prepare_run_dir(args.out, "world make", overwrite=args.overwrite, legacy=["scene.json"])
    out = write_scene(scene, args.out, **_write_kwargs(args))
    print(f"caption: {scene.caption}")
    print(f"{scene.num_gaussians} Gaussians, {scene.num_frames} frames, {scene.size}x{scene.size}, "
          f"{time.perf_counter() - start:.1f} s")
    print(f"wrote {_summary(out)}")
    return 0


def _sample(args) -> int:
    from motion4d.utils.run_dir import prepare_run_dir
    from motion4d.world.preview import contact_sheet
    from motion4d.world.suite import make_suite, random_suite, write_suite

    if (args.n is None) == (args.suite is None):
        raise ValueError("give either N (number of scenes) or --suite NAME, not both or neither")
    specs = make_suite(args.suite) if args.suite else random_suite(args.n, args.seed_start)
    prepare_run_dir(args.out, "world sample", overwrite=args.overwrite, legacy=["suite.json"])
    start = time.perf_counter()

    def report(spec, path, skipped):
        note = "kept (already complete)" if skipped else f"{time.perf_counter() - start:.1f} s"
        print(f"  {spec.name:<18} {note:>24}  {path}", flush=True)

    print(f"making {len(specs)} scenes in {args.out}")
    out = write_suite(specs, args.out, suite_name=args.suite or "random", overwrite=args.overwrite,
                      on_scene=report, **_scene_kwargs(args), **_write_kwargs(args))
    print(f"wrote {out}/suite.json ({len(specs)} scenes, {time.perf_counter() - start:.1f} s)")
    if args.sheet:
        print(f"wrote {contact_sheet(out, Path(out) / 'sheet.png')}")
    return 0


def _preview(args) -> int:
    from motion4d.utils.run_dir import check_out_file
    from motion4d.world.preview import contact_sheet, scene_dirs

    check_out_file(args.out, suffixes=(".png",))
    n = len(scene_dirs(args.path))
    out = contact_sheet(args.path, args.out, frames=args.frames, columns=args.columns, tile=args.tile)
    print(f"wrote {out} ({n} scene{'s' if n != 1 else ''})")
    return 0


__all__ = ["register"]
