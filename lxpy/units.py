"""Figures as people read and write them: sizes in binary units, durations in the largest
two units."""

from __future__ import annotations

import re


def size(value: int | None) -> str:
    if value is None:
        return "-"
    if value < 1024:
        return f"{value} B"
    amount, unit = float(value) / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    return f"{amount:.1f} {unit}"


def short_size(value: int) -> str:
    """As `ls -h` prints sizes, for narrow columns: 512, 4.0K, 1.2G, 20G."""
    amount, unit = float(value), ""
    for bigger in "KMGT":
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    if not unit:
        return str(value)
    return f"{amount:.1f}{unit}" if amount < 10 else f"{amount:.0f}{unit}"


def used_of(used: int | None, limit: int | None) -> str:
    """A figure and its limit in one narrow cell: "1.2G/20G", "1.2G" without a limit, "-"
    without a figure."""
    if used is None:
        return "-"
    return short_size(used) if limit is None else f"{short_size(used)}/{short_size(limit)}"


def parse_size(text: str) -> int:
    """'512M', '2G', '1.5G', '1048576' to bytes (powers of 1024, as the kernel counts)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text.strip(), re.I)
    if not m:
        raise ValueError(f"{text!r} is not a size (like 512M or 2G)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"
