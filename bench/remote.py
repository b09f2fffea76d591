#!/usr/bin/env python3
"""`lxpy ls --remote H` over a warm SSH connection against its floor: a local `lxpy ls` of
the same containers plus one ssh round trip (issue 19: at most 1.5x the local ls plus one
round trip).

The "remote" is a second lxpy root on this machine, reached through an sshd of the bench's
own on a loopback port with keys made for it (tests/sshd.py, as the tests do): the same
OpenSSH path a real remote takes, without the network's latency, which would only add to
both sides. The round trip is `ssh HOST true` over the same ControlMaster, so it holds what
a remote command costs whatever lxpy does: ssh's start, the channel, the remote user's
shell (its rc files too).

Figures (median of --runs): local `ls`, the round trip, `ls --remote H`, `ls --remote all`
(both hosts), and the forwarded command's own cost over the round trip. Everything lives in
one temporary directory, removed at the end with the containers, the master and the sshd.

    .venv/bin/python bench/remote.py [--runs 9] [--containers 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.sshd import running_sshd  # noqa: E402  (the repository's, as the tests use it)

LXPY = [os.path.join(REPO, ".venv", "bin", "lxpy")]


def timed(argv: list[str], env: dict[str, str]) -> float:
    begun = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    spent = time.perf_counter() - begun
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
    return spent


def interleaved_ms(
    rows: dict[str, list[str]], env: dict[str, str], runs: int
) -> dict[str, list[float]]:
    """Samples of each command, the commands taking turns run after run: load that drifts
    (the remote shell's rc files are slow and uneven here) hits them all alike."""
    for argv in rows.values():
        timed(argv, env)  # warm: page cache, bytecode, the master
    samples: dict[str, list[float]] = {label: [] for label in rows}
    for _ in range(runs):
        for label, argv in rows.items():
            samples[label].append(timed(argv, env) * 1000)
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="lxpy-bench-remote-")
    local, far = f"{work}/local", f"{work}/far"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    figures: dict[str, float] = {}
    samples: dict[str, list[float]] = {}
    try:
        os.mkdir(f"{work}/sshd")
        with running_sshd(f"{work}/sshd") as sshd:
            env["LXPY_SSH_COMMAND"] = sshd.ssh_command
            for i in range(args.containers):
                subprocess.run(
                    [*LXPY, "--root", far, "create", f"c{i}", "--network", "none"],
                    check=True,
                    capture_output=True,
                    env=env,
                )
            add = ["remote", "add", "far", sshd.address, "--root", far, "--command", LXPY[0]]
            subprocess.run([*LXPY, "--root", local, *add], check=True, env=env)
            try:
                port = sshd.address.rpartition(":")[2]
                # The master's socket, named for where it leads (lxpy/remote/connection.py).
                [control] = [e for e in os.listdir(f"{local}/run/ssh") if e.startswith("far-")]
                ssh = [*sshd.ssh_command.split(), "-S", f"{local}/run/ssh/{control}", "-p", port]
                ssh += ["-o", "ControlMaster=no"]  # never a connection of its own
                rows = {
                    "local ls": [*LXPY, "--root", far, "ls"],
                    "ssh round trip": [*ssh, "root@127.0.0.1", "true"],
                    "ls --remote far": [*LXPY, "--root", local, "ls", "--remote", "far"],
                    "ls --remote all": [*LXPY, "--root", local, "ls", "--remote", "all"],
                }
                samples = interleaved_ms(rows, env, args.runs)
                figures = {label: statistics.median(s) for label, s in samples.items()}
            finally:
                subprocess.run([*LXPY, "--root", local, "remote", "rm", "far"], env=env)
    finally:
        for root in (local, far):
            if os.path.isdir(f"{root}/lib/containers"):
                for name in os.listdir(f"{root}/lib/containers"):
                    if not name.startswith("."):
                        subprocess.run(
                            [*LXPY, "--root", root, "destroy", "-f", name],
                            capture_output=True,
                            env=env,
                        )
        shutil.rmtree(work, ignore_errors=True)
    floor = 1.5 * figures["local ls"] + figures["ssh round trip"]
    print(f"{args.containers} containers on the remote, median of {args.runs} runs:")
    for label, value in figures.items():
        print(f"  {label:<18} {value:7.1f} ms")
    over = figures["ls --remote far"] - figures["ssh round trip"]
    print(f"  {'remote - trip':<18} {over:7.1f} ms  (what the forwarded ls adds to a round trip)")
    verdict = "met" if figures["ls --remote far"] <= floor else "MISSED"
    print(f"  target: ls --remote far <= 1.5 x local ls + round trip = {floor:.1f} ms: {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": figures, "samples": samples, "target": floor}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
