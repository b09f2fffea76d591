"""`lxpy monitor NAME`: the per-container daemon that owns a running container.

It is init's parent: it reaps init and reads why it ended (SIGHUP: the guest rebooted, so
init starts again; SIGINT: halt or poweroff, so the container stops). It holds the console
pty master, keeps a ring buffer and a size-capped log of it, and serves a control socket.

Its memory is a benchmark target: it imports only the standard library modules it needs and
receives its settings from `lxpy start` as a marshal'd dict (its spec, in runtime/spec.py;
no tomllib, no dataclasses).
The child that becomes init imports its own modules after the fork.
"""

from __future__ import annotations

import _thread  # not threading: a lock and a thread are all the monitor needs
import errno
import marshal
import os
import select
import signal
import socket
import sys
import time

from lxpy.errors import StartFailed
from lxpy.linux import syscalls
from lxpy.linux.cgroups import ContainerCgroups, Notice
from lxpy.linux.proc import ProcessRef, wait_gone, waits_for_input
from lxpy.runtime import control, events
from lxpy.runtime.proxy import Proxy, where
from lxpy.runtime.rundir import (
    CONTROL_SOCKET,
    INIT_PID,
    MONITOR_PID,
    READY_MARK,
    STARTED_AT,
    STOPPING_MARK,
    State,
)
from lxpy.runtime.teardown import teardown

RING_BYTES = 128 * 1024
LOG_BYTES = 1024 * 1024
STATUS_FD = 3
# An init that cannot run (a missing library, a script that fails) ends within a millisecond
# or two of its exec: the start watches it for at most this long, and less once something
# in it waits for input (see ended_at_once).
START_GRACE_SECONDS = 0.01
# How often, within the grace, the start looks whether init has settled.
SETTLE_CHECK_SECONDS = 0.001
# A guest that reboots more often than this within a minute is stopped instead (a boot loop).
MAX_REBOOTS_PER_MINUTE = 10
# Root-only peers, but still bounded: a request must arrive within this, and only so many
# connections are kept (the one idle longest makes room for a new one).
CLIENT_IDLE_SECONDS = 5.0
MAX_CLIENTS = 64
# A pty holds a few KiB: reads of what init left there before it ended, at most.
DRAIN_READS = 16
# At the stop deadline, a cgroup-wide kill that failed is tried again this often.
KILL_RETRY_SECONDS = 1.0
# How often a monitor checks that its networks' dnsmasq still runs.
DNSMASQ_CHECK_SECONDS = 5.0
# After an OOM notice that may come before its kill is counted (v1), the kills are counted
# again this often for as long as the notice says they may take.
OOM_RECOUNT_SECONDS = 0.1
# What the loop hears through its wakeup fd.
HANDLED_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# How long the count of a stopped container's disk waits for its lock to keep the count
# (`lxpy stop` holds it until the monitor is gone; a start may follow at once).
COUNT_LOCK_WAIT = 30.0

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~2 MB of RSS
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    from lxpy.runtime.spec import MonitorSpec


class Client:
    __slots__ = ("buf", "console", "since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.console = False
        self.since = time.monotonic()


class Monitor:
    def __init__(self, spec: MonitorSpec) -> None:
        self.spec = spec
        self.name = spec["name"]
        self.run_dir = spec["run_dir"]
        self.cgroups = ContainerCgroups(spec["instance"], self.name)
        self.init: ProcessRef | None = None
        self.stopping = False
        self.deadline: float | None = None
        self.ring = bytearray()
        self.clients: dict[int, Client] = {}
        self.reboots: list[float] = []
        self.log_fd = -1
        self.master = -1
        self.slave = -1
        self.listener: socket.socket | None = None
        self.notify: socket.socket | None = None
        self.userns = -1
        self.netns = -1
        self.gate = -1
        self.proxy = Proxy()
        self.dnsmasq_due = time.monotonic() + DNSMASQ_CHECK_SECONDS
        self.console = ""
        self.origin: dict[str, str] = {}
        self.oom: Notice | None = None
        # The OOM kills told of, per counting cgroup (see ContainerCgroups.oom_kills_by_cgroup),
        # their number this run, and until when a notice's kill may still be uncounted.
        self.oom_counts: dict[int, int] = {}
        self.oom_kills = 0
        self.oom_settles: float | None = None
        self.oom_recount = 0.0
        # Held while a thread moves the monitor back to `origin` (see leave_cgroups).
        self.leaving: _thread.LockType | None = None
        self.leave_error: BaseException | None = None

    # -- setup ----------------------------------------------------------------------------
    def prepare(self) -> None:
        # First: a step below that fails is said there, for `lxpy console NAME --log`.
        self.open_log()
        ProcessRef.of(os.getpid()).write(f"{self.run_dir}/{MONITOR_PID}")
        self.origin = self.cgroups.own_cgroups()
        self.cgroups.create(self.spec["limits"])
        self.watch_ooms()
        root_id = self.spec["root_id"]
        if root_id >= 0:
            self.cgroups.delegate(root_id, root_id)
        user, netns, gate = self.spec["userns"], self.spec["netns"], self.spec["gate"]
        if user is not None:
            self.userns = os.open(user, os.O_RDONLY | os.O_CLOEXEC)
        if netns is not None:
            # The namespace `lxpy start` wired the NICs into (it holds it until we report);
            # kept for every init of this run, so eth0 survives a guest reboot.
            self.netns = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        if gate is not None:
            # Non-blocking open: a pipe whose writer `lxpy start` closed already (its wiring
            # failed) would block an O_RDONLY open forever.
            self.gate = os.open(gate, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.set_blocking(self.gate, True)
        self.master, self.slave = os.openpty()
        if root_id >= 0:
            # Container root owns its console (and group tty, 5, inside), as on a machine.
            os.fchown(self.slave, root_id, root_id + 5)
        os.set_blocking(self.master, False)
        os.set_inheritable(self.master, False)
        os.set_inheritable(self.slave, False)
        # By path, once: a guest's shutdown hangs up the console (vhangup), after which the
        # old slave fd can no longer name it, but the path still opens the same pty.
        self.console = os.ttyname(self.slave)
        self.listener = control.listen(f"{self.run_dir}/{CONTROL_SOCKET}")
        for proto, listen, host_port, address, port in self.spec["ports"]:
            self.forward(proto, listen, host_port, address, port)
        notify_socket = self.spec["notify_socket"]
        if notify_socket:
            self.notify = socket.socket(
                socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
            )
            self.notify.bind(notify_socket)
            if root_id >= 0:  # else container root, no owner of it, may not send
                os.chown(notify_socket, root_id, root_id)

    def watch_ooms(self) -> None:
        """Be woken by the kernel's OOM notices for the payload: armed before a process is
        there to be killed, so that no kill of this run goes untold."""
        try:
            self.oom = self.cgroups.oom_notice()
        except OSError as e:  # only the `oom` events are lost: no reason to refuse a start
            self.complain(f"cannot watch for OOM kills: {e}")

    def heed_oom(self, notified: bool) -> None:
        """Count the OOM kills on a notice, then every OOM_RECOUNT_SECONDS while the kill it
        told of may still be uncounted."""
        assert self.oom is not None
        now = time.monotonic()
        if notified:
            self.oom.take()
            self.oom_settles = now + self.oom.settles
        elif self.oom_settles is None or now < self.oom_recount:
            return
        self.oom_recount = now + OOM_RECOUNT_SECONDS
        if self.oom_recount > self.oom_settles:
            self.oom_settles = None
        self.count_ooms()

    def count_ooms(self) -> None:
        """An `oom` event for each kill counted since the last count (detail: its number this
        run)."""
        counts = self.cgroups.oom_kills_by_cgroup()
        # A cgroup the guest removed took its count along: only growth is news.
        new = sum(max(0, n - self.oom_counts.get(cgroup, 0)) for cgroup, n in counts.items())
        self.oom_counts = counts
        for _ in range(new):
            self.oom_kills += 1
            self.event("oom", str(self.oom_kills))

    def forward(self, proto: str, listen: str, host_port: int, address: str, port: int) -> None:
        try:
            self.proxy.add(proto, listen, host_port, address, port)
        except OSError as e:
            taken = where((proto, listen, host_port))
            if e.errno == errno.EADDRINUSE:
                raise StartFailed(f"host port {taken} is taken") from None
            raise StartFailed(f"cannot listen on {taken}: {e.strerror}") from None

    def supervise_dnsmasq(self) -> None:
        """Start the network's dnsmasq again if it died: DHCP renewals and names inside
        depend on it. Every monitor on the network checks; the first to find it gone wins."""
        from lxpy.net import dnsmasq

        self.dnsmasq_due = time.monotonic() + DNSMASQ_CHECK_SECONDS
        for run, argv in self.spec["dnsmasq"]:
            if dnsmasq.running(run) is None and os.path.isdir(run):
                self.note(f"dnsmasq of {os.path.basename(run)} is gone: starting it again")
                # A child of ours would sit in our cgroup: dnsmasq belongs to the host,
                # where we came from.
                try:
                    dnsmasq.start(run, argv, lambda: self.cgroups.move_to(self.origin))
                except Exception as e:  # another monitor's restart won the race, say
                    self.complain(f"starting dnsmasq again failed: {e}")

    def read_notify(self) -> None:
        """sd_notify messages from init: READY=1 marks the boot finished for `lxpy start`."""
        assert self.notify is not None
        while True:
            try:
                message = self.notify.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            if b"READY=1" in message.split(b"\n"):
                with open(f"{self.run_dir}/{READY_MARK}", "w"):
                    pass

    def open_log(self) -> None:
        if self.log_fd >= 0:
            os.close(self.log_fd)
            self.log_fd = -1  # a failed reopen must not leave a number another fd will reuse
        # O_NOFOLLOW: a planted symlink at the log path is refused, its target untouched.
        self.log_fd = os.open(
            self.spec["console_log"],
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )

    def start_init(self) -> None:
        rfd, wfd = os.pipe()
        try:
            pid = self.fork_unprivileged(wfd) if self.userns >= 0 else self.fork_privileged(wfd)
        finally:
            # Ours again for what the monitor forks later (dnsmasq), and for the next boot:
            # unshare refuses while it names another.
            _children_in_own_pid_namespace()
        os.close(wfd)
        if self.gate >= 0:
            os.close(self.gate)  # only the first init waits: after a reboot the NICs are there
            self.gate = -1
        with os.fdopen(rfd, "rb") as errors:
            failure = errors.read()
        if failure or pid < 0:
            if pid >= 0:
                os.waitpid(pid, 0)
            raise StartFailed(failure.decode(errors="replace") or "init was not forked")
        pidfd = os.pidfd_open(pid)
        try:
            ended = ended_at_once(pid, pidfd)
        finally:
            os.close(pidfd)
        init = None
        if not ended:
            try:
                init = ProcessRef.of(pid)
            except ProcessLookupError:
                pass
        if init is None:
            _, status = os.waitpid(pid, 0)
            raise StartFailed(f"init exited at once ({describe(status)})")
        self.init = init
        init.write(f"{self.run_dir}/{INIT_PID}")
        with open(f"{self.run_dir}/{STARTED_AT}", "w") as f:
            f.write(f"{time.time()}\n")
        self.note(f"init started (pid {pid} on the host)")

    # -- console --------------------------------------------------------------------------
    def fork_privileged(self, errfd: int) -> int:
        """Fork init-to-be as PID 1 of a new pid namespace; it sets itself up as host root."""
        syscalls.unshare(syscalls.CLONE_NEWPID)
        fds = (-1, self.netns, self.gate)
        return _forked(
            errfd, lambda spawn: spawn.run_child(self.spec, self.console, errfd, self.cgroups, fds)
        )

    def fork_unprivileged(self, errfd: int) -> int:
        """Fork init-to-be as PID 1 of a pid namespace its user namespace owns (so that its
        root may reboot it and mount its /proc), then a builder beside it in that pid
        namespace, as host root, that sets up its mounts and hands over its namespaces.
        Init's host pid, or -1 if it was not forked (the reason is on `errfd`)."""
        channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        pid_r, pid_w = os.pipe()
        try:
            fds = (self.userns, self.netns, self.gate)
            helper = _forked(
                errfd,
                lambda spawn: spawn.fork_pid1(
                    self.spec,
                    errfd,
                    self.cgroups,
                    fds,
                    (channel[0].fileno(), channel[1].fileno()),
                    pid_w,
                ),
            )
            os.close(pid_w)
            pid_w = -1
            with os.fdopen(pid_r, "rb") as f:
                pid_r = -1
                text = f.read()
            os.waitpid(helper, 0)
            if not text:
                return -1
            pid = int(text)
            pidns = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(pidns, syscalls.CLONE_NEWPID)
            finally:
                os.close(pidns)
            builder = _forked(
                errfd,
                lambda spawn: spawn.build_namespaces(
                    self.spec, self.console, errfd, self.cgroups, fds, channel[1].fileno()
                ),
            )
            # Reaped now, not in the main loop: init cannot end while a process of its pid
            # namespace is unreaped, and the monitor waits for init when it fails.
            os.waitpid(builder, 0)
            return pid
        finally:
            for fd in (pid_r, pid_w):
                if fd >= 0:
                    os.close(fd)
            for end in channel:
                end.close()

    def event(self, kind: str, detail: str = "") -> None:
        """For `lxpy events` and `lxpy wait`: the root's run dir is two above ours."""
        events.emit(os.path.dirname(os.path.dirname(self.run_dir)), self.name, kind, detail)

    def note(self, text: str) -> None:
        """A line from lxpy itself in the console log (not in the guest's console)."""
        self.log(f"\r\n[lxpy] {time.strftime('%Y-%m-%d %H:%M:%S')} {text}\r\n".encode())

    def complain(self, text: str) -> None:
        """An error of the monitor's own: in the console log and in monitor.log."""
        self.note(text)
        print(f"monitor: {text}", file=sys.stderr)

    def log(self, data: bytes) -> None:
        self.ring += data
        if len(self.ring) > RING_BYTES:
            del self.ring[: len(self.ring) - RING_BYTES]
        try:
            os.write(self.log_fd, data)
            if os.fstat(self.log_fd).st_size > LOG_BYTES:
                os.replace(self.spec["console_log"], self.spec["console_log"] + ".1")
                self.open_log()
        except OSError:
            pass  # a full disk must not take the container down

    def read_console(self) -> bool:
        """Pass on what the console has; False when it had nothing."""
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        self.log(data)
        for client in list(self.clients.values()):
            if client.console:
                try:
                    client.sock.send(data, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    pass  # a slow console client loses output rather than stall init
                except OSError:
                    self.drop(client)
        return True

    def drain_console(self) -> None:
        """Log what init wrote last, which tells how it ended (a dynamic loader's or a
        script's complaint when it ended at once)."""
        if self.master < 0:
            return  # the start failed before there was a console
        for _ in range(DRAIN_READS):
            if not self.read_console():
                return

    # -- control socket -------------------------------------------------------------------
    def accept(self) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except OSError:  # EAGAIN, and EMFILE or ENFILE: the client waits or gives up
            return
        if control.peer_uid(sock) != 0:
            sock.close()
            return
        if len(self.clients) >= MAX_CLIENTS:
            # Make room by dropping the client that has waited longest without a request;
            # consoles stay.
            idle = [c for c in self.clients.values() if not c.console]
            if not idle:
                sock.close()
                return
            self.drop(min(idle, key=lambda c: c.since))
        sock.setblocking(False)
        self.clients[sock.fileno()] = Client(sock)

    def drop(self, client: Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        client.sock.close()

    def serve(self, client: Client) -> None:
        try:
            data = client.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop(client)
            return
        if client.console:
            try:
                os.write(self.master, data)
            except OSError:
                pass
            return
        client.buf += data
        if b"\n" not in client.buf:
            if len(client.buf) > control.MAX_REQUEST:
                self.drop(client)
            return
        line, _, client.buf = client.buf.partition(b"\n")
        try:
            request = control.parse(line)
        except control.ProtocolError:
            self.drop(client)
            return
        client.sock.setblocking(True)
        client.sock.settimeout(2)
        keep = False
        try:
            keep = _HANDLERS[type(request)](self, client, request)
        except StartFailed as e:  # a port forward that cannot listen
            try:
                client.sock.sendall(control.Reply(str(e)).encode())
            except OSError:
                pass
        except OSError:
            pass
        if not keep:
            self.drop(client)

    # The requests' handlers (see _HANDLERS); each returns whether the client stays.
    def tell_state(self, client: Client, request: control.StateRequest) -> bool:
        state = State.RUNNING if self.init else State.STARTING
        if self.stopping:
            state = State.STOPPING
        client.sock.sendall(control.StateReply(state, self.init.pid if self.init else 0).encode())
        return False

    def stop_on_request(self, client: Client, request: control.Stop) -> bool:
        client.sock.sendall(control.Reply().encode())
        self.begin_stop(request.timeout, request.force)
        return False

    def send_log(self, client: Client, request: control.Log) -> bool:
        client.sock.sendall(bytes(self.ring))
        return False

    def open_console(self, client: Client, request: control.Console) -> bool:
        client.sock.sendall(bytes(self.ring))
        client.sock.setblocking(False)
        client.console = True
        if client.buf:  # typed in right behind the request
            os.write(self.master, client.buf)
        return True

    def add_port(self, client: Client, request: control.PortAdd) -> bool:
        self.forward(
            request.proto, request.listen, request.host_port, request.address, request.port
        )
        client.sock.sendall(control.Reply().encode())
        return False

    def remove_port(self, client: Client, request: control.PortRemove) -> bool:
        gone = self.proxy.remove((request.proto, request.listen, request.host_port))
        client.sock.sendall(control.Reply(None if gone else "no such forward").encode())
        return False

    # -- lifecycle ------------------------------------------------------------------------
    def begin_stop(self, timeout: float, force: bool) -> None:
        if self.init is None:
            return
        if not self.stopping:
            ProcessRef.of(os.getpid()).write(f"{self.run_dir}/{STOPPING_MARK}")
            self.note("stopping" + (" (forced)" if force else ""))
            self.event("stopping")
        self.stopping = True
        if force or timeout <= 0:
            self.init.send_signal(signal.SIGKILL)
            self.deadline = None
        else:
            self.init.send_signal(self.spec["halt_signal"])
            self.deadline = time.monotonic() + timeout
        self.leave_cgroups()

    def leave_cgroups(self) -> None:
        """Move back to where the monitor came from, so that finish() can remove its
        cgroups, in a thread: the move waits for an RCU grace period (see
        cgroups.prime_migrations), which then passes while init dies and the payload is
        torn down. The container's cgroups keep the monitor out of the payload either way."""
        if self.leaving is not None:
            return
        self.leaving = _thread.allocate_lock()
        self.leaving.acquire()
        _thread.start_new_thread(self._leave, (self.leaving,))

    def _leave(self, done: _thread.LockType) -> None:
        try:
            self.cgroups.move_to(self.origin)
        except BaseException as e:  # raised again in the main thread, by finish()
            self.leave_error = e
        finally:
            done.release()

    def left_cgroups(self) -> None:
        """Wait until the monitor has left its cgroups (leaving them now if it was not)."""
        self.leave_cgroups()
        assert self.leaving is not None
        with self.leaving:
            pass
        if self.leave_error is not None:
            error, self.leave_error = self.leave_error, None
            raise error

    def kill_everything(self) -> None:
        """At the stop deadline: SIGKILL init, then every other process in the cgroups."""
        self.note("stop timeout reached: killing every process")
        # Whatever fails below (a cgroup file error) is tried again after KILL_RETRY_SECONDS
        # for as long as init lives; the loop logs the error.
        self.deadline = time.monotonic() + KILL_RETRY_SECONDS
        # init first, through its pidfd: its death takes its whole pid namespace with it,
        # whatever becomes of the cgroup-wide kill.
        if self.init is not None:
            self.init.send_signal(signal.SIGKILL)
        # Still needed: a process caught joining (attach enters the cgroup before the pid
        # namespace) would outlive init.
        self.cgroups.kill_all()
        self.deadline = None

    def stop_unsupervised(self) -> None:
        """Stop without the loop, as `lxpy stop` would: halt signal, SIGKILL at the timeout."""
        pidfd = self.init.pidfd() if self.init is not None else None
        if pidfd is None:
            return
        try:
            timeout = self.spec["stop_timeout"]
            self.begin_stop(timeout, False)
            if not wait_gone(pidfd, timeout):
                self.kill_everything()
                wait_gone(pidfd, 5)
        finally:
            os.close(pidfd)
        self.reap()  # logs how init ended

    def reap(self) -> bool:
        """Collect exited children; return False once the container has stopped for good."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return self.init is not None
            if pid == 0:
                return True
            if self.init is not None and pid == self.init.pid:
                return self.init_exited(status)

    def init_exited(self, status: int) -> bool:
        self.init = None
        try:
            os.unlink(f"{self.run_dir}/{INIT_PID}")
        except FileNotFoundError:
            pass
        rebooted = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGHUP
        self.note(f"init ended: {describe(status)}")
        if not rebooted or self.stopping:
            return False
        now = time.monotonic()
        self.reboots = [t for t in self.reboots if now - t < 60] + [now]
        if len(self.reboots) > MAX_REBOOTS_PER_MINUTE:
            self.note("rebooting too often: stopping instead")
            return False
        self.note("the guest rebooted: starting init again")
        self.event("rebooted")
        # The kernel killed the rest of the old pid namespace; wait for the cgroup to empty.
        deadline = time.monotonic() + 5
        while self.cgroups.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            if os.path.exists(f"{self.run_dir}/{READY_MARK}"):
                os.unlink(f"{self.run_dir}/{READY_MARK}")
            self.cgroups.reset_namespace_root()
            self.start_init()
        except (StartFailed, OSError) as e:
            self.note(f"restart failed: {e}")
            return False
        return True

    def loop(self) -> None:
        assert self.listener is not None
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, _note_signal)
        running = self.reap()
        while running:
            try:
                running = self.turn(wake_r)
            except Exception as e:  # a bug in here must never take the container down
                print(f"monitor loop: {e!r}", file=sys.stderr)
                time.sleep(0.05)
                running = self.reap()
        self.drain_console()

    def turn(self, wake_r: int) -> bool:
        """One round of the loop; False once the container has stopped for good."""
        assert self.listener is not None
        running = True
        now = time.monotonic()
        waits = [
            c.since + CLIENT_IDLE_SECONDS - now for c in self.clients.values() if not c.console
        ]
        if self.deadline is not None:
            waits.append(self.deadline - now)
        if self.spec["dnsmasq"]:
            waits.append(self.dnsmasq_due - now)
        if self.oom_settles is not None:
            waits.append(self.oom_recount - now)
        timeout = max(0.0, min(waits)) if waits else None
        poller = select.poll()  # not select(): it fails past fd 1023
        notify = [] if self.notify is None else [self.notify.fileno()]
        for fd in (wake_r, self.master, self.listener.fileno(), *notify, *self.clients):
            poller.register(fd, select.POLLIN)
        if self.oom is not None:
            poller.register(self.oom.fd, self.oom.events)
        self.proxy.register(poller)
        events = dict(poller.poll(None if timeout is None else timeout * 1000))
        ready = set(events)
        self.proxy.handle(events)
        if wake_r in ready:
            signals = os.read(wake_r, 64)
            if signal.SIGTERM in signals or signal.SIGINT in signals:
                self.begin_stop(self.spec["stop_timeout"], False)
            running = self.reap()
        if self.master in ready:
            self.read_console()
        if self.listener.fileno() in ready:
            self.accept()
        if self.notify is not None and self.notify.fileno() in ready:
            self.read_notify()
        for fd in ready:
            client = self.clients.get(fd)
            if client is not None:
                self.serve(client)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.kill_everything()
        if self.spec["dnsmasq"] and time.monotonic() >= self.dnsmasq_due:
            self.supervise_dnsmasq()
        if self.oom is not None:
            self.heed_oom(self.oom.fd in ready)
        for client in list(self.clients.values()):
            if not client.console and time.monotonic() - client.since > CLIENT_IDLE_SECONDS:
                self.drop(client)
        if running and not self.reap():
            running = False
        return running

    def finish(self) -> None:
        for client in list(self.clients.values()):
            self.drop(client)
        if self.listener is not None:
            self.listener.close()
        if self.notify is not None:
            self.notify.close()
        self.proxy.close()
        if self.oom is not None:
            self.oom.close()
            self.oom = None
        # Ours once init is gone: one the loop's stop began cannot have ended sooner.
        self.leave_cgroups()
        if self.netns >= 0:
            os.close(self.netns)  # the last holder once init is gone: its veths go with it
            self.netns = -1
        if self.userns >= 0:
            os.close(self.userns)
            self.userns = -1
        # The monitor's own cgroups can go only once it has left them.
        teardown(self.run_dir, self.cgroups, self.spec["dns_files"], self.left_cgroups)
        self.note("stopped")
        self.event("stopped")


# What the monitor does for each request.
_HANDLERS: dict[type[control.Request], Callable[[Monitor, Client, Any], bool]] = {
    control.StateRequest: Monitor.tell_state,
    control.Stop: Monitor.stop_on_request,
    control.Log: Monitor.send_log,
    control.Console: Monitor.open_console,
    control.PortAdd: Monitor.add_port,
    control.PortRemove: Monitor.remove_port,
}


def _note_signal(signum: int, frame: object) -> None:
    """Signals are handled in the loop through the wakeup fd."""


def _forked(errfd: int, work: Callable[[ModuleType], None]) -> int:
    """Fork a child that runs `work(spawn)`; it reports its failure on `errfd`."""
    pid = os.fork()
    if pid == 0:
        # The child ends in exec or _exit, whatever fails: an exception escaping this
        # branch would run on as a second monitor, reporting and tearing down twice.
        try:
            from lxpy.runtime import spawn

            work(spawn)
        except BaseException as e:  # spawn reports its own steps; this is the import
            os.write(errfd, f"preparing: {e}".encode(errors="replace")[:4000])
        finally:
            os._exit(127)
    return pid


def ended_at_once(pid: int, pidfd: int) -> bool:
    """Whether the init just exec'd as `pid` ends within START_GRACE_SECONDS. It is watched
    only until something in it waits for input (a busybox init's getty or syslogd, ~2 ms
    after its exec): a start then reports without sitting out the whole grace."""
    deadline = time.monotonic() + START_GRACE_SECONDS
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or waits_for_input(pid):
            return wait_gone(pidfd, 0)
        if wait_gone(pidfd, min(remaining, SETTLE_CHECK_SECONDS)):
            return True


def _children_in_own_pid_namespace() -> None:
    """Point "pid namespace for children" back at the monitor's own."""
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(own, syscalls.CLONE_NEWPID)
    finally:
        os.close(own)


def describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        meanings = {int(signal.SIGHUP): " (reboot)", int(signal.SIGINT): " (halt or poweroff)"}
        meaning = meanings.get(sig, "")
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"  # realtime signals have no name
        return f"killed by {name}{meaning}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _report(status_fd: int, text: str) -> None:
    try:
        os.write(status_fd, text.encode(errors="replace"))
        os.close(status_fd)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    """`lxpy monitor NAME`, exec'd by `lxpy start` callers without a launcher (the TUI, the
    API): the spec arrives on stdin and the status pipe on fd 3."""
    with os.fdopen(0, "rb") as spec_pipe:
        spec = marshal.loads(spec_pipe.read())
    # Second fork: the daemon is not a session leader, so it can never regain a terminal.
    if os.fork() > 0:
        os._exit(0)
    return serve(spec, STATUS_FD)


def serve(spec: MonitorSpec, status_fd: int) -> int:
    """Run the monitor in this process until the container stops for good."""
    # Whatever `lxpy start`'s caller had open must not stay open for the container's life:
    # a script waiting for EOF on a pipe would hang until the container stops.
    os.closerange(3, status_fd)
    os.closerange(status_fd + 1, 65536)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    os.chdir("/")
    os.umask(0o022)
    # An unprivileged init is forked by a short-lived helper (see fork_unprivileged): it
    # comes back to us as a child when the helper exits.
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    syscalls.set_process_name("lxpy monitor")
    syscalls.set_cmdline(["lxpy", "monitor", spec["name"]])
    monitor = Monitor(spec)
    try:
        log = os.open(
            spec["monitor_log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600
        )
        os.dup2(log, 2)
        os.close(log)
        monitor.event("starting")
        monitor.prepare()
        monitor.start_init()
    except BaseException as e:
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        if isinstance(e, OSError) and e.filename:
            detail = f"{detail}: {e.filename}"
        # Torn down before the report: `lxpy start` releases the container's lock once it
        # hears, and a start made right after must not meet this teardown.
        try:
            # The attempt's lines, for the hint of `lxpy start`: `lxpy console NAME --log`.
            monitor.drain_console()
            monitor.note(f"cannot start: {detail}")
            monitor.finish()
        except Exception as cleanup_error:
            print(f"cleanup after a failed start: {cleanup_error}", file=sys.stderr)
        _report(status_fd, f"error {detail}\n")
        return 1
    _report(status_fd, f"ok {monitor.init.pid if monitor.init else 0}\n")
    monitor.event("running")
    # `lxpy start` has said the container runs: from here on the monitor's own errors never
    # take it down unannounced. Like LXC's monitor, a step that only the monitor needs is
    # logged and the container runs on; without its loop the monitor cannot supervise (reap
    # init, serve `lxpy stop`, drain the console), so the container is stopped as
    # `lxpy stop` would (LXC aborts it on a main loop error), and finish() removes the rest.
    try:
        # Off the path to "init runs": on v1 every cgroup.procs write waits for RCU.
        monitor.cgroups.enter("monitor")
    except Exception as e:
        # Only the monitor's shelter from an OOM inside is lost; finish() moves it back out
        # of whichever of its cgroups it did enter.
        monitor.complain(f"cannot enter the monitor's cgroup: {e}")
    try:
        monitor.loop()
    except BaseException as e:
        monitor.complain(f"monitor error, stopping the container: {e!r}")
        monitor.stop_unsupervised()
        return 1
    finally:
        monitor.finish()
        _count_disk(spec)
    return 0


def _count_disk(spec: MonitorSpec) -> None:
    """Count the stopped container's own layer for `lxpy ls`, in a child left behind: the
    monitor's exit is what `lxpy stop` waits for, and a walk must not lengthen it."""
    where = spec["count_disk"]
    if where is None:
        return
    try:
        if os.fork() > 0:
            return
    except OSError as e:
        print(f"cannot count its disk: {e}", file=sys.stderr)
        return
    try:
        signal.set_wakeup_fd(-1)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        syscalls.set_process_name("lxpy count-disk")
        syscalls.set_cmdline(["lxpy", "count-disk", spec["name"]])
        from lxpy.paths import Paths
        from lxpy.storage import usage

        usage.refresh(Paths(*where), spec["name"], wait=COUNT_LOCK_WAIT)
    except BaseException as e:
        print(f"counting its disk: {e!r}", file=sys.stderr)
    finally:
        os._exit(0)
