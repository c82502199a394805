"""Where the computations run: one reading of a device setting, for the library and the command line."""

import torch


def resolve_device(device="auto", *, setting="device") -> torch.device:
    """``"auto"`` (or ``None``) → CUDA when a GPU is visible, else the CPU; anything else is read
    by ``torch.device``. A name torch does not know, or CUDA on a machine without a GPU, is a
    ``ValueError`` naming ``setting`` (``"--device"`` on the command line)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{setting} must be auto, cpu, cuda or another torch device, not {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{setting} {device}: no CUDA GPU is visible on this machine (use cpu or auto)")
    return resolved
