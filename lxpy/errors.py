"""The one error hierarchy. Raised deep, reported once by the CLI or the TUI."""

from __future__ import annotations


class LxpyError(Exception):
    """A failure the user can understand: a one-line message and an optional hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


def describe(e: BaseException) -> str:
    """Any error as the one line both faces show: an LxpyError says what it is, an OSError
    what failed and on which file; anything else is a bug in lxpy, named as one."""
    if isinstance(e, LxpyError):
        return f"lxpy: {e}"
    if isinstance(e, OSError):
        where = f": {e.filename}" if e.filename else ""
        return f"lxpy: {e.strerror or e}{where}"
    return f"lxpy: internal error: {e!r}"


class InvalidName(LxpyError):
    exit_code = 2


class UsageError(LxpyError):
    exit_code = 2


class ConfigError(LxpyError):
    """A config file is malformed or holds a bad value; the message names file, line and key."""


class NotFound(LxpyError):
    """An unknown container or template."""


class AlreadyExists(LxpyError):
    pass


class StateError(LxpyError):
    """The container is in the wrong state for the command (running, stopped, busy)."""


class Busy(StateError):
    """Another lxpy command holds the container's lock."""


class PermissionDenied(LxpyError):
    pass


class UnsafePath(LxpyError):
    """A path inside a container would lead outside it (symlink, mount point, wrong type)."""


class StartError(LxpyError):
    """Setting up or executing the container's init failed."""


class UnsupportedArchitecture(LxpyError):
    """lxpy lacks this machine's kernel numbers (syscalls, ioctls)."""


class TemplateError(LxpyError):
    pass


# Raised where importing more than this module would cost: the monitor's closure, the
# child that becomes init, the cgroup layer.
class StartFailed(StartError):
    """The monitor could not start (or start again) init, or listen on a forwarded port."""


class ProtocolError(LxpyError):
    """A control socket request that does not parse."""


class RootfsError(StartError):
    """The rootfs cannot be set up: a mount point is a symlink or not a directory."""


class LimitError(LxpyError):
    """A limit this host's cgroup controllers cannot take."""


class StepFailed(LxpyError):
    """A step of `lxpy up` failed; `output` is the last of what it printed."""

    def __init__(self, message: str, output: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.output = output
