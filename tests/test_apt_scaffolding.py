"""The files a package layer's build puts in and takes out again (lxpy.images.apt)."""

from __future__ import annotations

from pathlib import Path

from lxpy.images import apt


def test_only_our_own_scaffolding_leaves_the_layer(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    for rel, (data, _) in apt._scaffolding().items():
        (upper / rel).parent.mkdir(parents=True, exist_ok=True)
        (upper / rel).write_bytes(data)
    apt._remove_scaffolding(str(upper))
    assert not (upper / apt.RESOLV_CONF).exists() and not (upper / apt.POLICY_RC).exists()
    # A package that ships its own (resolvconf, a policy-rc.d) keeps it.
    (upper / apt.RESOLV_CONF).write_bytes(b"nameserver 192.0.2.53\n")
    (upper / apt.POLICY_RC).write_bytes(b"#!/bin/sh\nexit 0\n")
    apt._remove_scaffolding(str(upper))
    assert (upper / apt.RESOLV_CONF).read_bytes() == b"nameserver 192.0.2.53\n"
    assert (upper / apt.POLICY_RC).read_bytes() == b"#!/bin/sh\nexit 0\n"
