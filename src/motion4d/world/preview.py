"""Contact sheets: one tile per scene (several reference frames in a row) with its caption below."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np

from motion4d.utils.io import atomic_path

__all__ = ["scene_dirs", "contact_sheet"]


def scene_dirs(path: str | Path) -> list[Path]:
    """The scene folders of a suite folder (``suite.json`` order, else sorted), or ``[path]`` for a scene."""
    path = Path(path)
    if (path / "scene.json").is_file():
        return [path]
    index = path / "suite.json"
    if index.is_file():
        return [path / e["path"] for e in json.loads(index.read_text())["scenes"]]
    found = sorted(p.parent for p in path.glob("*/scene.json"))
    if not found:
        raise FileNotFoundError(f"{str(path)!r} is neither a world scene folder nor a suite of them")
    return found


def contact_sheet(path: str | Path, out: str | Path, *, frames: int = 4, columns: int = 3, tile: int = 96) -> Path:
    """Write a PNG contact sheet of the scene(s) at ``path`` to ``out``.

    Each tile shows ``frames`` evenly spaced reference frames (``tile`` px each, on the scene background)
    and the caption under them; ``columns`` tiles per row.
    """
    from PIL import Image, ImageDraw, ImageFont

    from motion4d.world.dataset import composite, read_rgba

    if frames < 1 or columns < 1 or tile < 16:
        raise ValueError(f"need frames >= 1, columns >= 1 and tile >= 16, got {frames}, {columns}, {tile}")
    dirs = scene_dirs(path)
    font = ImageFont.load_default()
    chars = max(10, frames * tile // 6)
    tiles = []
    for d in dirs:
        spec = json.loads((d / "scene.json").read_text())
        files = sorted((d / "reference").glob("*.png"))
        if not files:
            raise FileNotFoundError(f"scene {str(d)!r} has no reference frames")
        pick = np.unique(np.linspace(0, len(files) - 1, frames).round().astype(int))
        imgs = [composite(read_rgba(files[i]), spec["background"]).numpy() for i in pick]
        strip = Image.fromarray((np.concatenate(imgs, axis=1) * 255 + 0.5).astype(np.uint8))
        strip = strip.resize((tile * len(imgs), tile), Image.NEAREST)
        lines = textwrap.wrap(f"{d.name}: {spec['caption']}", chars)[:3]
        canvas = Image.new("RGB", (frames * tile, tile + 12 * 3 + 6), (255, 255, 255))
        canvas.paste(strip, (0, 0))
        draw = ImageDraw.Draw(canvas)
        for i, line in enumerate(lines):
            draw.text((3, tile + 3 + 12 * i), line, fill=(0, 0, 0), font=font)
        tiles.append(canvas)
    w, h = tiles[0].size
    rows = (len(tiles) + columns - 1) // columns
    cols = min(columns, len(tiles))
    pad = 6
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), (200, 200, 200))
    for i, t in enumerate(tiles):
        sheet.paste(t, (pad + (i % columns) * (w + pad), pad + (i // columns) * (h + pad)))
    out = Path(out)
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out
