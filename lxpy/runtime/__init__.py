"""Running containers: the monitor, the namespaced child, attach, console, lifecycle."""

# The PATH a container's processes get: never the host's.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
