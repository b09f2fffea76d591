"""One multiplexed OpenSSH connection per remote host: the first command opens a master
(ControlMaster, in this root's run dir, 0700), every later one rides on it for ten idle
minutes, and one that finds it killed opens a new one. The host's own ssh config, keys and
known_hosts are used: lxpy makes no key and trusts no host ssh would not.

A command is the remote lxpy's own command line, told the interface this one speaks
(protocol.API); the first one over a new master is preceded by the handshake, which says in
one line when the host is unreachable, has no lxpy, or one of another interface.
"""

from __future__ import annotations

import os
import sys

from lxpy.remote import protocol
from lxpy.remote.protocol import RemoteError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence

    from lxpy.paths import Paths
    from lxpy.remote.registry import Remote

# Like GIT_SSH_COMMAND: the ssh to run, with options of its own (`ssh -F my_config`).
SSH_COMMAND_ENV = "LXPY_SSH_COMMAND"
# An idle master lives this long; a dead host is noticed after 3 unanswered 15 s probes.
_PERSIST = "600"
_OPTIONS = (
    "ControlMaster=auto",
    f"ControlPersist={_PERSIST}",
    "ServerAliveInterval=15",
    "ServerAliveCountMax=3",
    "ConnectTimeout=10",
)
# How often a call there looks whether it was given up (abandon) or timed out.
_CHECK_EVERY = 0.25
# The shell's "command not found": the remote command is not there.
_NOT_FOUND = 127


class Connection:
    """The way to one remote's lxpy. `batch`: never prompt (no terminal to prompt on)."""

    __slots__ = ("abandoned", "batch", "control", "remote", "running")

    def __init__(self, paths: Paths, remote: Remote, batch: bool = False) -> None:
        self.remote = remote
        self.batch = batch
        self.running: set[subprocess.Popen[bytes]] = set()  # calls under way (abandon)
        self.abandoned = False
        self.control = f"{control_dir(paths)}/{remote.name}-{_leads_to(remote)}"

    def ssh(self, *, tty: bool = False) -> list[str]:
        """ssh's command line up to the remote command (which the caller appends)."""
        # -q on a terminal: "Connection to HOST closed." is no news after an attach.
        return [
            *self._options(),
            "-t" if tty else "-T",
            *(["-q"] if tty else []),
            "--",
            self.remote.host,
        ]

    def _options(self) -> list[str]:
        r = self.remote
        argv = [*_ssh_program(), "-S", self.control, "-e", "none"]
        for option in _OPTIONS + (("BatchMode=yes",) if self.batch else ()):
            argv += ["-o", option]
        if r.port:
            argv += ["-p", str(r.port)]
        if r.user:
            argv += ["-l", r.user]
        return argv

    def command_line(self, words: Sequence[str]) -> str:
        """The remote shell's command: that host's lxpy, told this one's interface and the
        remote's --root, running `words`."""
        r = self.remote
        root = ["--root", r.root] if r.root else []
        argv = ["--api", str(protocol.API), *root, *words]
        return f"exec {r.command} " + " ".join(protocol.quote(w) for w in argv)

    def argv(self, words: Sequence[str], *, tty: bool = False) -> list[str]:
        return [*self.ssh(tty=tty), self.command_line(words)]

    def ready(self, handshake: bool = False) -> None:
        """Make sure a master runs, or the host can be reached and serves this lxpy: the
        handshake, through the master it opens. Nothing to do while one lives, unless
        `handshake` (`remote add`: it answers now)."""
        if self.abandoned:  # a quitting TUI's thread: nothing more there, nor here
            raise self.unreachable("given up")
        if self.alive() and not handshake:
            return
        os.makedirs(os.path.dirname(self.control), mode=0o700, exist_ok=True)
        import json

        handshake_line = f"exec {self.remote.command} --api {protocol.API} --version"
        proc = self._call([*self.ssh(), handshake_line], timeout=60)
        said = last_line(proc.stderr.decode(errors="replace"))
        if proc.returncode == 255:
            raise self.unreachable(said)
        if proc.returncode == _NOT_FOUND:
            raise RemoteError(
                f"{self.where}: no lxpy there (`{self.remote.command}`: {said})",
                hint=f"install lxpy on {self.remote.host}, or give its path: "
                f"`lxpy remote add {self.remote.name} ... --command PATH`",
            )
        try:
            answer = json.loads(proc.stdout) if proc.returncode == 0 else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RemoteError(
                f"{self.where}: its lxpy cannot serve remotes ({said or 'no answer'})",
                hint=f"install the same lxpy on {self.remote.host}",
            )
        protocol.check_hello(self.where, answer)

    def alive(self) -> bool:
        """A master answers on the control socket. One killed leaves its socket behind,
        which a new master replaces."""
        import _socket  # not socket: it builds enums, ~5 ms of every remote command

        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            s.connect(self.control)
        except OSError:
            return False
        finally:
            s.close()
        return True

    @property
    def where(self) -> str:
        return f"remote {self.remote.name} ({self.remote.address})"

    def unreachable(self, said: str) -> RemoteError:
        return RemoteError(f"cannot reach {self.where}: {said or 'ssh failed'}")

    def replace_process(self, words: Sequence[str], *, tty: bool = False) -> None:
        """Become ssh running `words` there: its output, exit status and signals are the
        command's, and nothing of this process stays in the way of a terminal."""
        self.ready()
        sys.stdout.flush()
        sys.stderr.flush()
        argv = self.argv(words, tty=tty)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            raise RemoteError(f"cannot run {argv[0]}: {e.strerror}") from None

    def run(self, words: Sequence[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        """Run `words` there and collect what they print."""
        self.ready()
        return self._call(self.argv(words), timeout)

    def _call(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        """Run ssh to its end, or until `timeout` or `abandon()`. An ssh that rides a master
        hands its pipes to the master, which holds them open until it gives up on a host
        that stopped answering (a minute): a killed one is reaped, its pipes closed, never
        read to their end."""
        import subprocess
        import time

        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError as e:
            raise RemoteError(f"cannot run ssh: {e.filename}: {e.strerror}") from None
        self.running.add(proc)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=_CHECK_EVERY)
                    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
                except subprocess.TimeoutExpired:
                    if self.abandoned or time.monotonic() >= deadline:
                        reap(proc)
                        said = "given up" if self.abandoned else f"no answer within {timeout:g} s"
                        raise self.unreachable(said) from None
        finally:
            self.running.discard(proc)

    def abandon(self) -> None:
        """End every call under way, from another thread (the TUI as it quits)."""
        self.abandoned = True
        for proc in list(self.running):
            proc.kill()

    def output(self, words: Sequence[str], timeout: float = 30) -> bytes:
        """What `words` print there; their own error, or ssh's, as a RemoteError."""
        proc = self.run(words, timeout=timeout)
        if proc.returncode == 255:
            raise self.unreachable(last_line(proc.stderr.decode(errors="replace")))
        if proc.returncode != 0:
            said = last_line(proc.stderr.decode(errors="replace")).removeprefix("lxpy: ")
            raise RemoteError(f"{self.remote.name}: {said}")
        return proc.stdout

    def containers(self, timeout: float = 30) -> list[dict[str, object]]:
        """The host's containers as its `ls --format json` gives them."""
        answer = self.json(["ls", "--format", "json"], timeout)
        if not isinstance(answer, list) or not all(isinstance(a, dict) for a in answer):
            raise RemoteError(f"{self.remote.name}: ls gave no list of containers")
        return answer

    def json(self, words: Sequence[str], timeout: float = 30) -> object:
        """The JSON that `words` print there; their own error as a RemoteError."""
        import json

        printed = self.output(words, timeout)
        try:
            return json.loads(printed)
        except ValueError:
            raise RemoteError(f"{self.where}: `lxpy {' '.join(words)}` gave no JSON") from None


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill an ssh and reap it, its pipes closed unread (see Connection._call)."""
    proc.kill()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.wait()


def _ssh_program() -> list[str]:
    custom = os.environ.get(SSH_COMMAND_ENV)
    if not custom:
        return ["ssh"]
    import shlex  # only then: shlex imports re

    return shlex.split(custom)


def control_dir(paths: Paths) -> str:
    return f"{paths.run}/ssh"


def _leads_to(remote: Remote) -> str:
    """A master serves only the address and the ssh it was opened with: a remote given a
    new address (or another LXPY_SSH_COMMAND) gets a connection of its own, never the old
    host's. crc32, not hashlib: loading OpenSSL costs every command."""
    import zlib

    key = f"{remote.address} {os.environ.get(SSH_COMMAND_ENV, '')}"
    return f"{zlib.crc32(key.encode()):08x}"


def close_all(paths: Paths, name: str) -> None:
    """End every master of the remote `name`, whatever address it was opened for."""
    import subprocess

    try:
        sockets = [e for e in os.listdir(control_dir(paths)) if e.rpartition("-")[0] == name]
    except FileNotFoundError:
        return
    for entry in sockets:
        control = f"{control_dir(paths)}/{entry}"
        subprocess.run(
            [*_ssh_program(), "-S", control, "-O", "exit", "lxpy-remote"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
        try:
            os.unlink(control)
        except FileNotFoundError:
            pass


def last_line(text: str) -> str:
    """What a command said last on stderr: its error, after any warnings."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
