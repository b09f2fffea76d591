"""Run a Debian-style bootstrap (mmdebstrap or debootstrap) with progress and timing.

The tool's own "I: ..." lines become the progress steps. Steps that fetch from the mirror
are timed apart from the rest, so a first create reports download and build time separately.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lxpy.errors import TemplateError
from lxpy.images.plan import BUILTIN_LOCALES, Plan
from lxpy.images.progress import Progress
from lxpy.linux import safefs

# Steps during which the tool waits on the network rather than builds.
_DOWNLOAD_STEP = re.compile(r"download|retriev|validat|checking release|apt-get update", re.I)
_TAIL_LINES = 20


@dataclass(frozen=True)
class Timing:
    seconds: float
    download_seconds: float
    tool: str


def run(plan: Plan, target: str, debs: str, progress: Progress) -> Timing:
    """Bootstrap into `target` (a new empty directory). Raises TemplateError with the tool's
    last lines when it fails."""
    if not os.path.isfile(plan.keyring):
        raise TemplateError(
            f"the archive keyring {plan.keyring} is missing: signatures could not be checked",
            hint="install the distribution's keyring package (debian-archive-keyring, "
            "ubuntu-keyring)",
        )
    tool = plan.tool()
    os.makedirs(debs, mode=0o700, exist_ok=True)
    argv = plan.command(target, debs, tool)
    progress.step(f"bootstrapping {plan.suite} ({plan.arch}) with {tool}")
    started = time.monotonic()
    download = 0.0
    current: tuple[float, bool] | None = None  # (step start, is a download step)

    def step(line: str) -> None:
        nonlocal current, download
        if not line.startswith("I: "):
            return
        now = time.monotonic()
        if current is not None and current[1]:
            download += now - current[0]
        text = line[3:].rstrip(".")
        current = (now, bool(_DOWNLOAD_STEP.search(text)))
        progress.step(text)

    code, tail = follow(argv, progress, step)
    if current is not None and current[1]:
        download += time.monotonic() - current[0]
    if code != 0:
        raise TemplateError(
            f"{tool} failed (exit status {code}): {why_failed(tail)}",
            hint="check the mirror, the release name and the package names",
        )
    if any(locale not in BUILTIN_LOCALES for locale in plan.locales):
        progress.step("generating locales")
        _generate_locales(target, plan.locales)
    return Timing(time.monotonic() - started, download, tool)


ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}


def follow(
    argv: list[str], progress: Progress, on_line: Callable[[str], None]
) -> tuple[int, list[str]]:
    """Run `argv` (apt's environment, no input), each line of its output to `on_line` as it
    comes, the display ticking meanwhile. Returns its exit status and its last lines."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=ENV,
            start_new_session=True,
        )
    except OSError as e:
        raise TemplateError(f"cannot run {argv[0]}: {e.strerror}") from None
    assert proc.stdout is not None
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            buffered = b""
            while True:
                if not sel.select(timeout=0.25):
                    progress.tick()
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace").rstrip()
                    tail.append(line)
                    on_line(line)
    except BaseException:
        # Interrupted: the tool (its own session) must not go on writing into a tree that
        # is about to be removed.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        proc.stdout.close()
    return proc.wait(), list(tail)


def why_failed(tail: list[str]) -> str:
    """What apt (or a bootstrap tool) said about its failure: the first error line says why
    (an expired Release file, a missing package), the last ones only that it gave up."""
    errors = [line for line in tail if line.startswith("E: ")]
    return errors[0][3:] if errors else " | ".join(line for line in tail[-3:] if line)


def _generate_locales(target: str, locales: tuple[str, ...]) -> None:
    rootfd = safefs.open_tree(target)
    try:
        # The templates admit only UTF-8 locales (their parameter pattern says so).
        lines = "".join(f"{loc} UTF-8\n" for loc in locales)
        safefs.write_file(rootfd, "etc/locale.gen", lines.encode(), 0o644)
    finally:
        os.close(rootfd)
    # The tree was just built from the signed archive: running its locale-gen is trusted.
    result = subprocess.run(
        ["chroot", target, "/usr/sbin/locale-gen"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise TemplateError(f"locale-gen failed: {result.stdout.strip()} {result.stderr.strip()}")
