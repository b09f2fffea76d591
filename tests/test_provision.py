"""`--provision SCRIPT`: scripts run inside once at the first boot; their status, which the
guest could forge, read back safely (the Debian cases are in test_debian)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxpy.errors import UsageError
from lxpy.images import provision
from tests.conftest import Lxpy, sh


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (b"", "pending"),
        (b"step 01-a.sh\n", "running 01-a.sh"),
        (b"done\n", "done"),
        (b"failed 02-b 3\n", "failed: 02-b exited 3"),
        (b"failed 02-b interrupted\n", "failed: 02-b was interrupted"),
        (b"done\nstep 01-x\n", "unknown: /var/lib/lxpy/provision/status is not lxpy's"),
        (b"failed 02-b 3; rm -rf /\n", "unknown: /var/lib/lxpy/provision/status is not lxpy's"),
        (b"step \x1b[2J\n", "unknown: /var/lib/lxpy/provision/status is not lxpy's"),
    ],
)
def test_the_status_is_believed_only_in_the_runners_format(text: bytes, shown: str) -> None:
    assert str(provision.parse_status(text)) == shown


def test_scripts_are_read_whole_and_named_in_order(tmp_path: Path) -> None:
    first = script(tmp_path, "set up.sh", "echo 1\n")
    second = script(tmp_path, "b.py", "print(2)\n")
    got = provision.read_scripts([first, second])
    assert [(s.name, s.data) for s in got] == [
        ("01-set_up.sh", b"echo 1\n"),
        ("02-b.py", b"print(2)\n"),
    ]
    big = tmp_path / "big"
    big.write_bytes(b"#" * (provision.MAX_SCRIPT + 1))
    for bad, words in (
        (str(tmp_path / "none"), "No such file"),
        (str(tmp_path), "not a regular"),
        (str(big), "1 MiB"),
    ):
        with pytest.raises(UsageError, match=words):
            provision.read_scripts([bad])


@pytest.mark.integration
def test_scripts_run_once_in_order_and_a_failure_stops_them(lxpy: Lxpy, tmp_path: Path) -> None:
    one = script(tmp_path, "one.sh", "#!/bin/sh\necho one >> /root/ran\n")
    two = script(tmp_path, "two.sh", "echo two >> /root/ran\n")  # no #!: sh runs it
    launched = lxpy.run("launch", "ok", "--network", "none", "--provision", one, "--provision", two)
    assert "provisioned ok in" in launched.stderr
    assert "Provision: done (2 script(s))" in lxpy.run("info", "ok").stdout
    assert sh(lxpy, "ok", "cat /root/ran") == "one\ntwo\n"
    lxpy.run("restart", "ok")  # once: not again at the next boot
    lxpy.wait_state("ok", "RUNNING")
    assert sh(lxpy, "ok", "cat /root/ran") == "one\ntwo\n"

    fails = script(tmp_path, "fails.sh", "echo about to fail\nexit 3\n")
    never = script(tmp_path, "never.sh", "touch /root/never\n")
    refused = lxpy.run(
        "launch",
        "bad",
        "--network",
        "none",
        "--provision",
        fails,
        "--provision",
        never,
        check=False,
    )
    assert refused.returncode == 1
    assert "provisioning failed: 01-fails.sh exited 3" in refused.stderr
    assert "Provision: failed: 01-fails.sh exited 3" in lxpy.run("info", "bad").stdout
    assert sh(lxpy, "bad", "test -e /root/never || echo not run") == "not run\n"
    log = lxpy.run("console", "bad", "--log").stdout
    assert "about to fail" in log and "01-fails.sh failed (exit status 3)" in log


@pytest.mark.integration
def test_a_stop_mid_script_is_reported_not_rerun(lxpy: Lxpy, tmp_path: Path) -> None:
    slow = script(tmp_path, "slow.sh", "echo started >> /root/ran\nsleep 600\n")
    lxpy.run("create", "slow", "--network", "none", "--provision", slow)
    lxpy.run("start", "slow")
    for _ in range(50):
        if "running 01-slow.sh" in lxpy.run("info", "slow").stdout:
            break
        sh(lxpy, "slow", "sleep 0.1")
    lxpy.run("stop", "-k", "slow")
    assert "Provision: running 01-slow.sh" in lxpy.run("info", "slow").stdout
    lxpy.run("start", "slow")
    for _ in range(50):
        if "interrupted" in lxpy.run("info", "slow").stdout:
            break
        sh(lxpy, "slow", "sleep 0.1")
    assert "Provision: failed: 01-slow.sh was interrupted" in lxpy.run("info", "slow").stdout
    assert sh(lxpy, "slow", "cat /root/ran") == "started\n"


@pytest.mark.integration
def test_a_forged_status_is_not_believed_nor_followed(lxpy: Lxpy, tmp_path: Path) -> None:
    ok = script(tmp_path, "ok.sh", "true\n")
    lxpy.run("launch", "forger", "--network", "none", "--provision", ok)
    secret = tmp_path / "host-secret"
    secret.write_text("done\n")
    sh(lxpy, "forger", f"ln -sf {secret} /var/lib/lxpy/provision/status")
    assert "Provision: unknown" in lxpy.run("info", "forger").stdout
    sh(
        lxpy,
        "forger",
        "mkfifo /root/fifo; rm /var/lib/lxpy/provision/status; "
        "ln /root/fifo /var/lib/lxpy/provision/status 2>/dev/null || "
        "mkfifo /var/lib/lxpy/provision/status",
    )
    assert "Provision: unknown" in lxpy.run("info", "forger", timeout=10).stdout
