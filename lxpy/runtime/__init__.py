"""Running containers: the monitor, the namespaced child, attach, console, lifecycle."""

# The PATH a container's processes get: never the host's.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Names in a container's run dir that both the monitor and the CLI use.
CONTROL_SOCKET = "control.sock"
NOTIFY_SOCKET = "notify"  # the monitor's sd_notify socket, for systemd inside
READY_MARK = "ready"  # made by the monitor when init reports READY=1
