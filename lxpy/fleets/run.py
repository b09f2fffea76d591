"""`lxpy up` carrying out a plan: the containers in parallel, each started only once every
container it depends on is ready.

Each step is an lxpy command run as a process of its own (the `lxpy` the user runs, with
the same --root): one container's create, start or attach goes on beside another's with
no state shared between them, the locks are those two people's commands would take, and
a failing step's output and exit status are there to show, as the user would have seen
them. This process only schedules, waits and reads state.

A step that fails stops the fleet: steps already running finish, nothing new begins, the
containers this `up` made are removed again except the one that failed (kept for
inspection), and the error names the project file, the container and the cause.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from lxpy.errors import LxpyError, StepFailed
from lxpy.fleets import record
from lxpy.fleets.plan import PROVISIONED, READY, Plan, ServicePlan, Step

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Api

Say = Callable[[str, str], None]  # (container, what happened)

STEP_TIMEOUT = 3600.0  # a create bootstraps and installs packages: it may take long
CHECK_TIMEOUT = 60.0  # one run of a ready check
PROVISION_TIMEOUT = 1800.0
TAIL_LINES = 20


def run_lxpy(api: Api, argv: tuple[str, ...], timeout: float = STEP_TIMEOUT) -> tuple[int, str]:
    """(exit status, stdout and stderr together) of `lxpy ARGV`, without a terminal."""
    try:
        done = subprocess.run(
            api.command(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        out = e.output.decode(errors="replace") if e.output else ""
        return 124, out + f"\n(killed after {timeout:g} s)"
    return done.returncode, done.stdout.decode(errors="replace")


def in_order(
    names: list[str],
    waits_for: dict[str, list[str]],
    work: Callable[[str], None],
    first: Callable[[str], None] | None = None,
) -> list[tuple[str, LxpyError]]:
    """`work(name)` for each name, in a thread of its own, once `work` has succeeded for
    every name it waits for (`first(name)` runs before that wait). Returns the failures;
    after the first, nothing new begins (see `Stopped`) and what waits on it never runs."""
    done = {name: threading.Event() for name in names}
    failures: list[tuple[str, LxpyError]] = []

    def one(name: str) -> None:
        try:
            if first is not None:
                first(name)
            for other in waits_for.get(name, []):
                while other in done and not done[other].wait(0.2):
                    if failures:
                        return
            if failures:
                return
            work(name)
            done[name].set()
        except Stopped:
            pass
        except LxpyError as e:
            failures.append((name, e))

    # Daemons: Ctrl-C ends lxpy at once; the commands they run get the terminal's SIGINT.
    threads = [threading.Thread(target=one, args=(n,), name=n, daemon=True) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def command(api: Api, argv: tuple[str, ...], who: str, said: str, say: Say) -> None:
    """`lxpy ARGV` as a step of `who`, saying `said` and the time it took once it has
    succeeded (its warnings as they came); StepFailed with its output if it failed."""
    began = time.monotonic()
    code, out = run_lxpy(api, argv)
    for line in out.splitlines():
        if line.startswith("warning: "):
            say(who, line)
    if code != 0:
        raise StepFailed(last_line(out) or f"`lxpy {' '.join(argv)}` exited {code}", _tail(out))
    say(who, f"{said} ({time.monotonic() - began:.1f} s)")


class Stopped(LxpyError):
    """Another step failed: this one does not begin."""

    def __init__(self) -> None:
        super().__init__("stopped: another container failed")


class Runner:
    """Carries out a plan of `up`, saying each step's outcome as it comes."""

    def __init__(self, api: Api, plan: Plan, say: Say) -> None:
        self.api, self.plan, self.say = api, plan, say
        self.plans = {p.service.name: p for p in plan.services}
        self.failed = False
        self.made: list[str] = []  # services whose container this up created
        self.lock = threading.Lock()
        self.record = plan.record

    def run(self) -> None:
        project = self.plan.project
        if self.plan.network is not None:
            self._step(None, self.plan.network)
            self.record = self.record.with_network(project.network or "", made=True)
        with self.lock:
            record.save(self.api.paths, self.record)
        failures = in_order(
            list(self.plans),
            {name: list(p.service.depends_on) for name, p in self.plans.items()},
            self._start,
            self._prepare,
        )
        if failures:
            self._undo({name for name, _ in failures})
            name, failure = failures[0]
            raise StepFailed(
                f"{project.path}: container {name}: {failure.message}",
                failure.output if isinstance(failure, StepFailed) else "",
                failure.hint,
            )

    def _prepare(self, name: str) -> None:
        plan = self.plans[name]
        for step in plan.prepare:
            self._step(plan, step)

    def _start(self, name: str) -> None:
        plan = self.plans[name]
        for step in plan.start:
            self._step(plan, step)
        self._keep(plan.member)

    def _keep(self, member: record.Member) -> None:
        with self.lock:
            self.record = self.record.with_member(member, list(self.plan.project.services))
            record.save(self.api.paths, self.record)

    def _step(self, plan: ServicePlan | None, step: Step) -> None:
        if self.failed:
            raise Stopped()
        who = plan.service.container if plan else self.plan.project.name
        said = f"{step.verb} {step.detail}" if step.detail else step.verb
        try:
            if plan is not None and step.verb in (PROVISIONED, READY):
                began = time.monotonic()
                (self._provisioned if step.verb == PROVISIONED else self._ready_check)(plan)
                self.say(who, f"{said} ({time.monotonic() - began:.1f} s)")
                return
            command(self.api, step.argv, who, said, self.say)
        except LxpyError:
            self.failed = True
            raise
        if plan is not None and step.argv[0] == "create":
            with self.lock:
                self.made.append(plan.service.name)
            # Nothing pushed yet: a later up pushes its files again if this one stops.
            self._keep(replace(plan.member, files={}))

    def _provisioned(self, plan: ServicePlan) -> None:
        name = plan.service.container
        deadline = time.monotonic() + PROVISION_TIMEOUT
        while True:
            status = self.api.provisioning(name)
            if status is None or status.state == "done":
                return
            if status.state in ("failed", "unreadable") or time.monotonic() > deadline:
                what = str(status) if status.state != "running" else "timed out"
                raise StepFailed(
                    f"provisioning {what}",
                    _provision_output(self.api.console_log(name)),
                    hint=f"{name} is kept for a look: `lxpy console {name} --log`, "
                    f"`lxpy attach {name}`",
                )
            time.sleep(0.3)

    def _ready_check(self, plan: ServicePlan) -> None:
        service = plan.service
        assert service.ready is not None
        argv = ("attach", service.container, "--", "sh", "-c", service.ready)
        deadline = time.monotonic() + service.ready_timeout
        while True:
            code, out = run_lxpy(self.api, argv, CHECK_TIMEOUT)
            if code == 0:
                return
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"ready check `{service.ready}` did not pass within "
                    f"{service.ready_timeout:g} s (last exit status {code})",
                    _tail(out),
                    hint=f"`lxpy attach {service.container}` to look; ready_timeout sets the wait",
                )
            time.sleep(0.5)

    def _undo(self, failed: set[str]) -> None:
        """Remove the containers this up made, but those that failed (kept for a look)."""
        for name in self.made:
            if name in failed:
                continue
            container = self.plans[name].service.container
            code, out = run_lxpy(self.api, ("destroy", "--force", container))
            if code == 0:
                self.say(container, "removed again: the fleet did not come up")
                self.record = self.record.without(name)
            else:
                self.say(container, f"could not be removed: {last_line(out)}")
        record.save(self.api.paths, self.record)


def last_line(out: str) -> str:
    """The last line of a command's output, without lxpy's `lxpy: ` (its error, if it failed)."""
    lines = [line for line in out.splitlines() if line.strip()]
    return lines[-1].removeprefix("lxpy: ") if lines else ""


def _tail(out: str) -> str:
    return "\n".join(out.rstrip().splitlines()[-TAIL_LINES:])


def _provision_output(log: bytes) -> str:
    """The output of the provisioning script that ran last, from the console log."""
    text = log.decode(errors="replace").replace("\r\n", "\n")
    start = text.rfind("lxpy provision: running ")
    if start < 0:
        start = text.rfind("lxpy provision:")
    return _tail(text[start:]) if start >= 0 else _tail(text)


def up(api: Api, plan: Plan, say: Say) -> None:
    """Carry `plan` out (holding the fleet's lock); `say(container, what)` as each step ends."""
    with record.locked(api.paths, plan.project.name):
        Runner(api, plan, say).run()
