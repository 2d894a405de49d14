"""Training data for motion/appearance LoRAs: videos and images with captions, random clips, latent caching.

Inputs are files or folders (``data.paths``). Videos (.mp4 .mov .webm .avi .mkv .gif) are read with :mod:`motion4d.utils.media` (alpha over white);
images (.png .jpg .jpeg .webp .bmp) are one-frame clips (appearance only). A caption comes from ``<file stem>.txt``
next to the file, else ``caption.txt`` in its folder, else the config's ``caption``.

A clip is ``num_frames`` frames taken every ``stride = max(1, round(native_fps / fps))`` frames from a random start
(drawn from a seeded generator), resized to cover ``width x height`` and centre-cropped (no distortion).

Latent cache: each clip is VAE-encoded once (posterior mean; MotionDirector caches one posterior *sample*, which
for the real VAE differs from the mean by far less than the diffusion noise) into ``<cache>/clip-<i>.safetensors`` holding ``latents`` [C, F, h, w],
``text`` [L, D] (the caption's CLIP embedding) and, for images, ``latents_flip`` (horizontally flipped), with the
source, caption and clip position in its metadata. The cache is keyed by the source file, its size and mtime, the
clip settings and the base model, so editing any of them re-encodes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from motion4d.utils.io import atomic_path
from motion4d.utils.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, read_video

__all__ = ["VIDEO_EXTS", "IMAGE_EXTS", "MediaItem", "CachedClip", "find_media", "read_rgb",
           "clip_indices", "resize_frames", "load_clip", "build_latent_cache", "load_cached_clip"]

VIDEO_EXTS = VIDEO_EXTENSIONS
IMAGE_EXTS = IMAGE_EXTENSIONS


@dataclass(frozen=True)
class MediaItem:
    """One training file: ``kind`` is "video" or "image"."""

    path: Path
    caption: str
    kind: str


@dataclass
class CachedClip:
    """A cached training clip: ``latents`` [C, F, h, w], ``text`` [L, D], optional ``latents_flip``."""

    latents: torch.Tensor
    text: torch.Tensor
    caption: str
    kind: str
    source: str
    latents_flip: torch.Tensor | None = None
    file: Path | None = None


def _caption_for(path: Path, default: str | None) -> str:
    for candidate in (path.with_suffix(".txt"), path.parent / "caption.txt"):
        if candidate.is_file():
            text = candidate.read_text().strip()
            if text:
                return text
    if default:
        return default
    raise ValueError(f"no caption for {str(path)!r}: write {path.with_suffix('.txt').name} next to it, or set "
                     f"data.caption in the config")


def find_media(paths: list[str | Path], caption: str | None = None) -> list[MediaItem]:
    """Expand files/folders into :class:`MediaItem` s (folders: their videos and images, sorted by name)."""
    if not paths:
        raise ValueError("data.paths is empty: give at least one video, image or folder")
    items: list[MediaItem] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"training data {str(p)!r} does not exist")
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_EXTS + IMAGE_EXTS) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise ValueError(f"folder {str(p)!r} holds no videos ({' '.join(VIDEO_EXTS)}) or images "
                             f"({' '.join(IMAGE_EXTS)})")
        for f in files:
            ext = f.suffix.lower()
            if ext not in VIDEO_EXTS + IMAGE_EXTS:
                raise ValueError(f"{str(f)!r} is neither a video ({' '.join(VIDEO_EXTS)}) nor an image "
                                 f"({' '.join(IMAGE_EXTS)})")
            items.append(MediaItem(f, _caption_for(f, caption), "video" if ext in VIDEO_EXTS else "image"))
    return items


def read_rgb(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames of a video or image as uint8 ``[N, H, W, 3]`` and its frame rate (8 when the file has none),
    through :func:`motion4d.utils.media.read_video`. An alpha channel is composited over white."""
    video = read_video(path, as_uint8=True)
    x = video.frames
    if x.shape[-1] == 4:
        a = x[..., 3:].astype(np.float32) / 255.0
        x = np.floor(x[..., :3] * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    return x, float(video.fps or 8.0)


def clip_indices(num_available: int, native_fps: float, fps: float, num_frames: int,
                 generator: torch.Generator | None = None) -> tuple[list[int], int]:
    """Frame indices of a random clip and its stride. The stride ``round(native_fps / fps)`` is lowered when the
    video is too short for it; ``ValueError`` when it has fewer than ``num_frames`` frames."""
    if num_available < num_frames:
        raise ValueError(f"the video has {num_available} frames, fewer than num_frames={num_frames}; lower "
                         f"data.num_frames")
    stride = max(1, round(native_fps / fps)) if fps > 0 else 1
    while stride > 1 and (num_frames - 1) * stride + 1 > num_available:
        stride -= 1
    span = (num_frames - 1) * stride + 1
    start = int(torch.randint(0, num_available - span + 1, (1,), generator=generator))
    return list(range(start, start + span, stride)), stride


def resize_frames(frames: np.ndarray, width: int, height: int) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> float32 [F, height, width, 3] in [0, 1]: resize to cover, then centre crop."""
    x = torch.from_numpy(np.array(frames, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[-2:]
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - height) // 2, (nw - width) // 2
    return x[:, :, top:top + height, left:left + width].clamp(0, 1).permute(0, 2, 3, 1).contiguous()


def load_clip(item: MediaItem, *, num_frames: int, fps: float, width: int, height: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """A random clip of ``item``: frames [F, height, width, 3] in [0, 1] (F = 1 for images) and its position."""
    if item.kind == "image":
        return resize_frames(read_rgb(item.path)[0][:1], width, height), {"start": 0, "stride": 1, "native_fps": 0.0}
    frames, native_fps = read_rgb(item.path)
    idx, stride = clip_indices(len(frames), native_fps, fps, num_frames, generator)
    info = {"start": idx[0], "stride": stride, "native_fps": native_fps}
    return resize_frames(frames[idx], width, height), info


def _cache_key(item: MediaItem, index: int, settings: dict, model: str) -> str:
    st = item.path.stat()
    text = json.dumps({"path": str(item.path.resolve()), "size": st.st_size, "mtime": st.st_mtime_ns,
                       "caption": item.caption, "clip": index, "settings": settings, "model": model}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_latent_cache(backbone, items: list[MediaItem], cache_dir: str | Path, *, num_frames: int, fps: float,
                       width: int, height: int, clips_per_video: int = 1, seed: int = 0,
                       show_progress: bool = True) -> list[Path]:
    """VAE-encode ``clips_per_video`` random clips per video (one per image) into ``cache_dir``; reuse files whose
    key matches. Returns the cache files in order."""
    from motion4d.utils.progress import progress

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    settings = {"num_frames": num_frames, "fps": fps, "width": width, "height": height, "seed": seed}
    model = f"{backbone.model_id}:{backbone.fingerprint}"
    jobs = [(item, k) for item in items for k in range(clips_per_video if item.kind == "video" else 1)]
    files = []
    for i, (item, k) in enumerate(progress(jobs, desc="caching latents", disable=None if show_progress else True)):
        key = _cache_key(item, k, settings, model)
        file = cache_dir / f"clip-{i:04d}.safetensors"
        files.append(file)
        if file.is_file() and _read_meta(file).get("key") == key:
            continue
        gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
        frames, info = load_clip(item, num_frames=num_frames, fps=fps, width=width, height=height, generator=gen)
        tensors = {"latents": backbone.encode_frames(frames, sample=False)[0].float().cpu(),
                   "text": backbone.encode_prompt(item.caption)[0].float().cpu()}
        if item.kind == "image":
            tensors["latents_flip"] = backbone.encode_frames(frames.flip(2), sample=False)[0].float().cpu()
        meta = {"key": key, "source": str(item.path), "caption": item.caption, "kind": item.kind,
                "num_frames": str(frames.shape[0]), **{k2: str(v) for k2, v in info.items()}}
        _write(file, tensors, meta)
    for stale in sorted(cache_dir.glob("clip-*.safetensors"))[len(files):]:
        stale.unlink()
    return files


def _write(file: Path, tensors: dict, meta: dict) -> None:
    from safetensors.torch import save_file

    with atomic_path(file) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)


def _read_meta(file: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            return f.metadata() or {}
    except Exception:  # noqa: BLE001 - a corrupt cache file is simply rebuilt
        return {}


def load_cached_clip(file: str | Path) -> CachedClip:
    """Read one cache file written by :func:`build_latent_cache`."""
    from safetensors import safe_open

    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"cached clip {str(file)!r} does not exist")
    with safe_open(str(file), framework="pt") as f:
        meta = f.metadata() or {}
        keys = set(f.keys())
        if "latents" not in keys:
            raise ValueError(f"{str(file)!r} is not a motion4d latent-cache file (no 'latents' tensor)")
        t = {k: f.get_tensor(k) for k in keys}
    return CachedClip(latents=t["latents"], text=t.get("text"), caption=meta.get("caption", ""),
                      kind=meta.get("kind", "video"), source=meta.get("source", ""),
                      latents_flip=t.get("latents_flip"), file=file)
