"""Small shared helpers: devices, atomic file output, progress display."""
from motion4d.utils.device import resolve_device, default_dtype
from motion4d.utils.io import atomic_path, atomic_dir, write_json

__all__ = ["resolve_device", "default_dtype", "atomic_path", "atomic_dir", "write_json"]
