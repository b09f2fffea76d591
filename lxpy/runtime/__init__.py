"""Running containers: the monitor, the namespaced child, attach, console, lifecycle."""
