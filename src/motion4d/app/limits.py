"""Bounds on what a web user may upload, and how an upload enters a run folder.

Every check raises :class:`UploadError` with a message meant for the page (it names the field, what was
sent and what is allowed). Upload names are shown in messages but never become paths: an accepted file is
copied to a name the server makes (``motion_0.mp4``), keeping only a suffix from a fixed allow-list.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from motion4d.utils.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["UploadLimits", "UploadError", "check_file", "check_video", "check_images", "admit", "LORA_SUFFIXES"]

LORA_SUFFIXES = (".safetensors",)


class UploadError(ValueError):
    """An upload the app refuses; the message is shown on the page as is."""


@dataclass
class UploadLimits:
    """Configurable bounds (``motion4d app --max-upload-mb ...``).

    Attributes:
        max_file_mb: size of any one uploaded file, in MiB.
        max_video_seconds: length of an uploaded video (frames / fps), in seconds.
        max_video_side: longer side of an uploaded video or image, in pixels.
        max_video_frames: number of frames of an uploaded video.
        max_images: number of appearance images per job.
        max_videos: number of motion videos per job.
    """

    max_file_mb: float = 50.0
    max_video_seconds: float = 20.0
    max_video_side: int = 1920
    max_video_frames: int = 600
    max_images: int = 8
    max_videos: int = 4

    def __post_init__(self) -> None:
        for key, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"upload limit {key} must be > 0, got {value!r}")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def _name(path: str | Path) -> str:
    return Path(str(path)).name


def check_file(path: str | Path, field: str, suffixes: tuple[str, ...], limits: UploadLimits) -> Path:
    """The uploaded file at ``path`` if its type is one of ``suffixes`` and its size is within the limit."""
    p = Path(str(path))
    suffix = p.suffix.lower()
    if suffix not in suffixes:
        raise UploadError(f"{field}: '{_name(p)}' is not an accepted file type; accepted: {' '.join(suffixes)}")
    if not p.is_file():
        raise UploadError(f"{field}: the upload '{_name(p)}' did not arrive; upload it again")
    size = p.stat().st_size
    if size > limits.max_file_bytes:
        raise UploadError(f"{field}: '{_name(p)}' is {size / 2 ** 20:.1f} MiB; the limit is {limits.max_file_mb:g} "
                          f"MiB per file")
    if size == 0:
        raise UploadError(f"{field}: '{_name(p)}' is empty (0 bytes)")
    return p


def check_video(path: str | Path, field: str, limits: UploadLimits) -> dict:
    """Check an uploaded video (type, size, frames, length, resolution) without decoding every frame.

    Returns ``{"frames": int, "fps": float, "width": int, "height": int}``.
    """
    import imageio_ffmpeg

    p = check_file(path, field, VIDEO_EXTENSIONS, limits)
    try:
        gen = imageio_ffmpeg.read_frames(str(p))
        meta = next(gen)
        gen.close()
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(p))
    except Exception:  # noqa: BLE001 - any decoder failure is the same message for the user
        frames, meta = 0, {}
    if frames < 1:
        raise UploadError(f"{field}: '{_name(p)}' has no video frames (zero frames, or not a readable video)")
    w, h = meta.get("size", (0, 0))
    fps = float(meta.get("fps") or 0) or 8.0
    if max(w, h) > limits.max_video_side:
        raise UploadError(f"{field}: '{_name(p)}' is {w}x{h}; the longer side may be at most "
                          f"{limits.max_video_side} pixels")
    if frames > limits.max_video_frames or frames / fps > limits.max_video_seconds:
        raise UploadError(f"{field}: '{_name(p)}' has {frames} frames ({frames / fps:.1f} s); the limit is "
                          f"{limits.max_video_frames} frames and {limits.max_video_seconds:g} s")
    return {"frames": int(frames), "fps": fps, "width": int(w), "height": int(h)}


def check_images(paths: list, field: str, limits: UploadLimits) -> list[Path]:
    """Check uploaded images: their number, types, sizes and resolution (header only)."""
    from PIL import Image

    if len(paths) > limits.max_images:
        raise UploadError(f"{field}: {len(paths)} images sent; at most {limits.max_images} are allowed")
    out = []
    for raw in paths:
        p = check_file(raw, field, IMAGE_EXTENSIONS, limits)
        try:
            with Image.open(p) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001
            raise UploadError(f"{field}: '{_name(p)}' is not a readable image") from None
        if max(w, h) > limits.max_video_side:
            raise UploadError(f"{field}: '{_name(p)}' is {w}x{h}; the longer side may be at most "
                              f"{limits.max_video_side} pixels")
        out.append(p)
    return out


def admit(path: str | Path, folder: Path, stem: str) -> Path:
    """Copy a checked upload into ``folder`` as ``<stem><suffix>``: the server's name, never the user's."""
    suffix = Path(str(path)).suffix.lower()
    if suffix not in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS + LORA_SUFFIXES:
        raise UploadError(f"'{_name(path)}' is not an accepted file type")
    if not stem.replace("_", "").isalnum():
        raise ValueError(f"stem {stem!r} must be letters, digits and '_'")
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{stem}{suffix}"
    shutil.copyfile(str(path), dest)
    return dest
