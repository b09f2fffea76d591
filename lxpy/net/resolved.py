"""systemd-resolved, where the host runs it: the host asks a network's dnsmasq for the names
of its domain through per-link DNS on the bridge, and /etc/hosts is left alone.

Not tried on a real resolved here (the test machine runs no systemd): the fallback, the
block in /etc/hosts (`lxpy.net.hostsfile`), is what the tests cover.
"""

from __future__ import annotations

import os

from lxpy.net.model import Network

# resolved's Varlink socket: it is there while resolved runs, D-Bus or not.
VARLINK = "/run/systemd/resolve/io.systemd.Resolve"
# Its stub listeners: a resolv.conf naming one sends every lookup through resolved.
STUBS = ("127.0.0.53", "127.0.0.54")


def active() -> bool:
    """True when resolved runs and the host's own lookups go through it (nss-resolve in
    nsswitch.conf, or its stub in resolv.conf): only then does per-link DNS reach `ssh`."""
    if not os.path.exists(VARLINK):
        return False
    import shutil  # here: most hosts stop at the line above, and every start asks

    if shutil.which("resolvectl") is None:
        return False
    return _nss_asks_resolve() or _stub_in_resolv_conf()


def _nss_asks_resolve() -> bool:
    return any(
        words[:1] == ["hosts:"] and "resolve" in words for words in _lines("/etc/nsswitch.conf")
    )


def _stub_in_resolv_conf() -> bool:
    stubs = [["nameserver", stub] for stub in STUBS]
    return any(words[:2] in stubs for words in _lines("/etc/resolv.conf"))


def _lines(path: str) -> list[list[str]]:
    """The words of each line of `path`, comments left out; none if it cannot be read."""
    try:
        with open(path) as f:
            return [line.split("#", 1)[0].split() for line in f]
    except OSError:
        return []


def linked(network: Network) -> bool:
    """Whether the host now sends queries for `network`'s domain (and only those) to its
    dnsmasq through resolved: False where resolved is not in use, or where it refuses the
    bridge's settings (without D-Bus, say); the hosts file serves then. resolved forgets a
    link's settings when the link goes, so this is asked at every start, and there is
    nothing to undo at `network rm`."""
    if not active():
        return False
    import subprocess  # here: see `active`

    for argv in (
        ["resolvectl", "dns", network.name, network.gateway],
        ["resolvectl", "domain", network.name, f"~{network.domain}"],
    ):
        try:
            result = subprocess.run(argv, capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if result.returncode != 0:
            return False
    return True
