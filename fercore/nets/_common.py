"""What the network modules share: constructor-argument checks, width scaling of channel counts
and the input-shape check."""


def check_positive(name: str, value) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def check_at_least(name: str, value, minimum, unit: str = "") -> None:
    """``unit`` follows the bound in the message (e.g. ``" pixels"``)."""
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}{unit}, got {value}")


def check_rate(name: str, value) -> None:
    """A dropout-like rate in [0, 1)."""
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def scaled_channels(channels: int, width) -> int:
    """A channel count times the width multiplier, rounded, at least 1."""
    return max(1, round(channels * width))


def check_images(x, channels: int, size: int | None = None) -> None:
    """Raise unless ``x`` is a batch ``(n, channels, H, W)``, with ``H = W = size`` when given."""
    square = size is None or tuple(x.shape[2:]) == (size, size)
    if x.ndim != 4 or x.shape[1] != channels or not square:
        side = "H, W" if size is None else f"{size}, {size}"
        raise ValueError(f"expected input (n, {channels}, {side}), got {tuple(x.shape)}")
