"""`lxpy attach`: exit status, stdin, a clean environment, users, ptys."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from lxpy.linux import hostbin
from tests.conftest import Lxpy, in_pty

pytestmark = pytest.mark.integration


def test_exit_status_passes_through(lxpy: Lxpy, running: str) -> None:
    assert lxpy.run("attach", running, "--", "sh", "-c", "exit 7", check=False).returncode == 7
    assert lxpy.run("attach", running, "--", "true").returncode == 0
    killed = lxpy.run("attach", running, "--", "sh", "-c", "kill -9 $$", check=False)
    assert killed.returncode == 128 + 9


def test_stdin_is_piped_through(lxpy: Lxpy, running: str) -> None:
    assert lxpy.run("attach", running, "--", "cat", input="hi\n").stdout == "hi\n"
    big = "x" * 300_000 + "\n"
    assert lxpy.run("attach", running, "--", "wc", "-c", input=big).stdout.strip() == "300001"


LXPY = [sys.executable, "-m", "lxpy", "--root"]


def test_large_streams_both_ways_never_deadlock(lxpy: Lxpy, running: str) -> None:
    """A command that writes a lot before it reads: the relay must keep draining its output
    while our input waits (a blocking write into its stdin would hang both forever)."""
    result = subprocess.run(
        [*LXPY, lxpy.root, "attach", running, "--", "sh", "-c", "head -c 1000000 /dev/zero; cat"],
        input=b"x" * 3_000_000,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert len(result.stdout) == 4_000_000 and result.stdout.endswith(b"x" * 1000)


def test_stdout_and_stderr_stay_apart(lxpy: Lxpy, running: str) -> None:
    result = lxpy.run("attach", running, "--", "sh", "-c", "echo out; echo err >&2")
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


def test_environment_is_clean(lxpy: Lxpy, running: str) -> None:
    env = subprocess.run(
        [
            sys.executable,
            "-m",
            "lxpy",
            "--root",
            lxpy.root,
            "attach",
            running,
            "-e",
            "FOO=bar",
            "--",
            "env",
        ],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            "TERM": "xterm-test",
            "PATH": "/host/only:/usr/bin:/bin",
            "SECRET": "host",
        },
    ).stdout.splitlines()
    values = dict(line.split("=", 1) for line in env)
    assert values["TERM"] == "xterm-test"
    assert "/host/only" not in values["PATH"]
    assert values["PATH"].startswith("/usr/local/sbin")
    assert values["FOO"] == "bar"
    assert values["HOME"] == "/root"
    assert "SECRET" not in values


def test_user_and_cwd(lxpy: Lxpy, running: str) -> None:
    assert lxpy.run("attach", running, "--user", "nobody", "--", "id", "-u").stdout.strip() == (
        "65534"
    )
    assert lxpy.run("attach", running, "--cwd", "/etc", "--", "pwd").stdout.strip() == "/etc"
    missing = lxpy.run("attach", running, "--user", "ghost", "--", "true", check=False)
    assert missing.returncode != 0
    assert "ghost" in missing.stderr


def test_unknown_command_is_reported(lxpy: Lxpy, running: str) -> None:
    result = lxpy.run("attach", running, "--", "no-such-command", check=False)
    assert result.returncode == 127
    assert "not found" in result.stderr


def test_the_attached_process_joins_the_container_cgroup(lxpy: Lxpy, running: str) -> None:
    cgroup = lxpy.run("attach", running, "--", "cat", "/proc/self/cgroup").stdout
    # With a cgroup namespace, the container's own cgroup is its root.
    assert all(line.endswith(":/") for line in cgroup.splitlines()), cgroup


def test_attach_joins_init_in_a_v2_child_cgroup(lxpy: Lxpy, running: str) -> None:
    """systemd moves itself into /init.scope and enables controllers at its cgroup root; on v2
    the root then refuses new processes, so attach joins init's own cgroup there."""
    v2 = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    lxpy.run(
        "attach",
        running,
        "--",
        "sh",
        "-c",
        f"mkdir {v2}/init.scope && echo 1 > {v2}/init.scope/cgroup.procs",
    )
    lines = lxpy.run("attach", running, "--", "cat", "/proc/self/cgroup").stdout.splitlines()
    assert "0::/init.scope" in lines


def test_interactive_shell_gets_a_pty_from_the_container(lxpy: Lxpy, running: str) -> None:
    with in_pty(lxpy, "attach", running) as shell:
        prompt = shell.read_until(b"# ")
        if b"\x1b[6n" in prompt + shell.read_until(b"\x1b[6n", timeout=0.5):
            shell.write(b"\x1b[1;1R")  # busybox ash asks the terminal where the cursor is
        shell.write(b"tty; echo marker-$((6*7))\n")
        out = shell.read_until(b"marker-42")
        assert b"marker-42" in out, out
        assert b"/dev/pts/" in out
        shell.write(b"exit 3\n")
        assert shell.wait() == 3


def test_a_proc_self_exe_script_never_runs_the_host_interpreter(lxpy: Lxpy) -> None:
    # runc CVE-2019-5736: a container binary `#!/proc/self/exe` makes the runtime run itself
    # inside the container; for lxpy that would be the host's python, reading the rest of the
    # file as code (and holding the host binary open for a later write). To show the attack
    # would work, the container gets the host's /usr read-only, so a python could start.
    lxpy.run("create", "c1")
    rootfs = lxpy.paths.rootfs("c1")
    for link in ("lib", "lib64"):
        os.symlink(f"usr/{link}", f"{rootfs}/{link}")
    os.makedirs(f"{rootfs}/host-usr")
    subprocess.run(["mount", "--bind", "-o", "ro", "/usr", f"{rootfs}/host-usr"], check=True)
    try:
        # /usr inside becomes the host's: only for the loader and python's stdlib.
        subprocess.run(["mount", "--bind", f"{rootfs}/host-usr", f"{rootfs}/usr"], check=True)
        lxpy.run("start", "c1")
        with open(f"{rootfs}/bin/evil", "w") as f:
            f.write("#!/proc/self/exe\nopen('/tmp/pwned', 'w').write('ran')\n")
        os.chmod(f"{rootfs}/bin/evil", 0o755)
        result = lxpy.run("attach", "c1", "--", "/bin/evil", check=False)
        assert lxpy.run("attach", "c1", "--", "ls", "/tmp").stdout.split() == [], result
        assert result.returncode != 0
    finally:
        for target in (f"{rootfs}/usr", f"{rootfs}/host-usr"):
            subprocess.run(["umount", "-l", target], check=False)


def test_the_trampoline_is_an_exact_sealed_copy(tmp_path: Path) -> None:
    """What attach execs first (the host's busybox, copied in the kernel): every byte, and
    never writable, so /proc/PID/exe reached from inside leads to nothing of the host."""
    data = os.urandom(3 << 20)
    source = tmp_path / "binary"
    source.write_bytes(data)
    fd = hostbin.sealed_copy(str(source))
    try:
        assert os.pread(fd, len(data) + 1, 0) == data
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & seals == seals
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        os.close(fd)


def test_the_command_runs_under_the_seccomp_filter(lxpy: Lxpy, running: str) -> None:
    """The container's filter, loaded by attach itself: a command attached to a container
    is as confined as one its init started."""
    status = lxpy.run("attach", running, "--", "cat", "/proc/self/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Seccomp"] == "2"  # SECCOMP_MODE_FILTER
    assert fields["NoNewPrivs"] == "0"  # setuid programs inside keep working


# The CLI, paused in the process that enters, right before it takes the user's ids: the host's
# Python, in the container's pid namespace, where container root can see it.
PAUSED_ATTACH = r"""
import os, signal, sys
from lxpy.runtime import attach

def paused(become):
    def pause(account):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        os.write(2, b"lxpy-test-paused\n")
        signal.sigtimedwait({signal.SIGUSR1}, 30)
        become(account)
    return pause

attach.become = paused(attach.become)
from lxpy.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_no_host_environment_is_readable_in_the_entering_processes(
    lxpy: Lxpy, running: str
) -> None:
    """/proc/PID/environ shows the memory a process's environment came in, inherited across
    fork: the host's Python that enters must show none of the CLI's."""
    secret = f"lxpy-secret-{os.getpid()}"
    cli = subprocess.Popen(
        [sys.executable, "-c", PAUSED_ATTACH, "--root", lxpy.root, "attach", running, "--", "true"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "LXPY_TEST_SECRET": secret},
    )
    try:
        assert cli.stderr is not None
        assert cli.stderr.readline() == b"lxpy-test-paused\n"
        entering = psutil.Process(cli.pid).children(recursive=True)
        assert len(entering) == 2  # the one that joins, the one in the pid namespace
        with open(f"/proc/{cli.pid}/environ", "rb") as f:
            assert secret.encode() in f.read()  # the CLI's own, on the host: the test works
        for p in entering:
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                assert f.read().strip(b"\0") == b"", p
        entering[-1].send_signal(signal.SIGUSR1)
        assert cli.wait(20) == 0
    finally:
        if cli.poll() is None:
            for p in psutil.Process(cli.pid).children(recursive=True):
                p.kill()
            cli.kill()
            cli.wait(10)


def test_an_unusable_etc_group_is_an_error_for_a_user_and_a_warning_for_root(
    lxpy: Lxpy, running: str
) -> None:
    """A FIFO at /etc/group: `-u USER` fails at once in one line; the default attach as
    root still gets in (how one repairs it), saying what it skipped."""
    lxpy.run(
        "attach", running, "--", "sh", "-c", "mv /etc/group /etc/group.real; mkfifo /etc/group"
    )
    user = lxpy.run("attach", running, "-u", "nobody", "--", "true", check=False, timeout=5)
    assert user.returncode != 0
    assert user.stderr.strip() == "lxpy: the container's /etc/group is a FIFO, not a regular file"
    root = lxpy.run("attach", running, "--", "grep", "^Gid:", "/proc/self/status", timeout=5)
    assert root.stdout.split() == ["Gid:", "0", "0", "0", "0"]
    assert "warning: the container's /etc/group is a FIFO" in root.stderr
