"""The machine: syscalls, confined file I/O, mounts, cgroups, processes."""
