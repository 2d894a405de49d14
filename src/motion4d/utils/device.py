"""Device and dtype selection shared by every stage.

``device="auto"`` means CUDA when it is available, else CPU. Half precision is only
ever chosen on CUDA; CPU always runs float32.
"""
from __future__ import annotations

import torch

_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16,
           "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``, ``None``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``.

    Raises ``ValueError`` when CUDA is asked for on a machine without it.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def default_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """Pick the compute dtype: ``precision`` in {auto, fp32, fp16, bf16}.

    ``auto`` is fp16 on CUDA and fp32 on CPU; half precision requested on CPU falls back to fp32
    because CPU half kernels are slow and incomplete.
    """
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision not in _DTYPES:
        raise ValueError(f"precision={precision!r} is not one of auto, fp32, fp16, bf16")
    dtype = _DTYPES[precision]
    return dtype if device.type == "cuda" else torch.float32
