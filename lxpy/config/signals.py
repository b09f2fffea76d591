"""Signals by name, and the ones each kind of init halts (and reboots) on."""

from __future__ import annotations

import re
import signal

from lxpy.config.kinds import InitKind
from lxpy.config.tomlfile import parsable

# The signal that halts each kind of init cleanly inside a container (see
# docs/CONTAINER_INTERFACE.md in systemd, busybox init.c, sysvinit's inittab powerfail).
HALT_SIGNALS = {
    InitKind.BUSYBOX: "SIGUSR2",
    InitKind.SYSVINIT: "SIGPWR",
    InitKind.SYSTEMD: "SIGRTMIN+3",
}
# ...and the one that makes it reboot (sysvinit: the inittab ctrlaltdel entry), which a
# template may declare. lxpy never sends it (`restart` is a stop and a start): no config
# keeps it.
REBOOT_SIGNALS = {
    InitKind.BUSYBOX: "SIGTERM",
    InitKind.SYSVINIT: "SIGINT",
    InitKind.SYSTEMD: "SIGINT",
}


def parse_signal(value: str) -> int:
    """'SIGTERM', 'TERM', '15' or 'SIGRTMIN+3' to a signal number."""
    text = value.strip().upper()
    if text.isdigit():
        num = int(text)
    else:
        if not text.startswith("SIG"):
            text = "SIG" + text
        m = re.fullmatch(r"SIGRTMIN(?:\+(\d+))?", text)
        if m:
            num = signal.SIGRTMIN + int(m.group(1) or 0)
        elif hasattr(signal.Signals, text):
            num = int(signal.Signals[text])
        else:
            raise ValueError(f"unknown signal {value!r}")
    if not 0 < num <= signal.SIGRTMAX:
        raise ValueError(f"signal {value!r} out of range")
    return num


# What is wrong with a value as a signal, or None.
check_signal = parsable(parse_signal)
