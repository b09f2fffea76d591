"""The seccomp filter a container's init starts under, and with it every process inside.

A deny list over a default of allow, as LXC and LXD have it: a container is a whole distro,
whose systemd uses nearly every syscall there is, so only those that reach past the container
are refused. Two answers: EPERM where a refusal is what a program expects from a container,
ENOSYS where it makes programs fall back (systemd runs without the kernel keyring, util-linux
and systemd mount with mount(2) when the new mount API is missing). Only the machine's own
architecture is listed: a 32-bit (i386) or x32 syscall kills the process.

The filter is built with libseccomp (loaded from the host, so `build` runs before
pivot_root) and loaded right before init's exec, without no_new_privs: setuid programs (sudo,
su, ping) keep working inside. That needs CAP_SYS_ADMIN, which init-to-be still has.

What seccomp cannot express: it sees a syscall's arguments as numbers, never the memory they
point to, so not a mount's source, fstype or target.
- A fresh `mount -t proc proc /mnt` (or sysfs) in a privileged container is a new, writable
  /proc/sys (`core_pattern` runs a program as host root); no rule here stops it. LXC stops it
  with AppArmor (`deny mount fstype=proc`), which lxpy lacks.
- `mount -o remount,bind,rw` of a mount made read-only by a bind remount (/run/host)
  passes: systemd inside bind-remounts its own mounts the same way (logind's and
  hostnamed's ReadWritePaths=/etc under ProtectSystem=strict; refusing every remount that is
  not read-only fails both with 226/NAMESPACE), and a filter cannot tell which mount a call
  means or whether it is read-only now. /proc/sys and /sys stay read-only through it: their
  superblocks are (`rootfs`), and a superblock remount to rw is refused here.
- `umount` of the masks over /proc/keys, /proc/kcore and the like passes, as every umount.
"""

from __future__ import annotations

import errno
import stat

from lxpy.errors import StartError
from lxpy.linux import syscalls


class Rule:
    """`syscall` fails with `errno`; with `when` (argument, mask, value) only if the argument
    masked is the value. A plain class: a NamedTuple costs every attach ~6 ms (typing, and
    namedtuple's generated code) and every monitor ~1 MiB (the launcher loads this)."""

    __slots__ = ("errno", "syscall", "when")

    def __init__(self, syscall: str, errno: int, when: tuple[int, int, int] | None = None):
        self.syscall = syscall
        self.errno = errno
        self.when = when


EPERM, ENOSYS = errno.EPERM, errno.ENOSYS
S_IFMT = 0o170000  # a mode's file type bits (the stat module has only the function)

# Every container. Each reaches the host kernel or its hardware past the namespaces.
DENIED: tuple[Rule, ...] = (
    # Another kernel, or kernel code: the host's kernel is shared.
    Rule("kexec_load", EPERM),
    Rule("kexec_file_load", EPERM),
    Rule("init_module", EPERM),
    Rule("finit_module", EPERM),
    Rule("delete_module", EPERM),
    # A file handle names an inode on the whole filesystem, past the container's root (the
    # "shocker" escape: inode 2 is the host's /).
    Rule("open_by_handle_at", EPERM),
    # Kernel memory and attack surface: eBPF programs, perf counters, userfaultfd stalls.
    Rule("bpf", EPERM),
    Rule("perf_event_open", EPERM),
    Rule("userfaultfd", EPERM),
    # The host's kernel log and console level; raw I/O ports; the host's swap.
    Rule("syslog", EPERM),
    Rule("iopl", EPERM),
    Rule("ioperm", EPERM),
    Rule("swapon", EPERM),
    Rule("swapoff", EPERM),
    # The kernel keyring is not namespaced (host root's user keyring is readable). ENOSYS,
    # as LXD answers: systemd takes it as "no keyring here" and goes on without one.
    Rule("keyctl", ENOSYS),
    Rule("add_key", ENOSYS),
    Rule("request_key", ENOSYS),
    # A block device node: with the host disk's major:minor, `mount` of it reuses the host's
    # mounted superblock, which no device allow-list sees. Character nodes stay allowed.
    Rule("mknod", EPERM, (1, S_IFMT, stat.S_IFBLK)),
    Rule("mknodat", EPERM, (2, S_IFMT, stat.S_IFBLK)),
)

_REMOUNT_FLAGS = syscalls.MS_REMOUNT | syscalls.MS_RDONLY | syscalls.MS_BIND

# Privileged containers too (no user namespace: root inside is root on the host, and its
# mounts are not locked).
PRIVILEGED_DENIED: tuple[Rule, ...] = (
    # The new mount API hides what it does in strings and structs (fsconfig's "ro" key,
    # mount_setattr's flags); without it, tools fall back to mount(2), which rules can see.
    Rule("fsopen", ENOSYS),
    Rule("fsconfig", ENOSYS),
    Rule("fsmount", ENOSYS),
    Rule("fspick", ENOSYS),
    Rule("open_tree", ENOSYS),
    Rule("move_mount", ENOSYS),
    Rule("mount_setattr", ENOSYS),
    # A superblock remount that is not read-only: `mount -o remount,rw /proc/sys` (or /sys)
    # makes the filesystem and the mount writable again. Bind remounts (per mount flags,
    # systemd's sandboxing) and remounts read-only pass.
    Rule("mount", EPERM, (3, _REMOUNT_FLAGS, syscalls.MS_REMOUNT)),
)


class Filter:
    """A filter built and not loaded yet."""

    def __init__(self, ctx: int) -> None:
        self._ctx = ctx

    def load(self) -> None:
        """Put the calling process under the filter, for good (its children and execs too)."""
        syscalls.seccomp_load(self._ctx)

    def release(self) -> None:
        syscalls.seccomp_release(self._ctx)


def rules(privileged: bool, allow: tuple[str, ...] = ()) -> list[Rule]:
    """The policy: the deny lists without the syscalls `allow` names."""
    policy = DENIED + PRIVILEGED_DENIED if privileged else DENIED
    return [rule for rule in policy if rule.syscall not in allow]


def build(privileged: bool, allow: tuple[str, ...] = ()) -> Filter:
    """The filter, built while the host's libseccomp is in reach (before pivot_root)."""
    ctx = syscalls.seccomp_init(syscalls.SCMP_ACT_ALLOW)
    try:
        # A kill, libseccomp's own default for an architecture the filter does not list
        # (LXC and docker list i386 and x32 beside x86_64; lxpy refuses them): a 32-bit
        # program dies at its first syscall with SIGSYS ("Bad system call"), which names the
        # cause. ERRNO(ENOSYS) would make even its exit fail, and such a program spins or
        # crashes somewhere unrelated. The whole process, not only the calling thread.
        syscalls.seccomp_attr_set(
            ctx, syscalls.SCMP_FLTATR_ACT_BADARCH, syscalls.SCMP_ACT_KILL_PROCESS
        )
        syscalls.seccomp_attr_set(ctx, syscalls.SCMP_FLTATR_CTL_NNP, 0)
        # The kernel's own errno when the load fails, not libseccomp's catch-all ECANCELED.
        syscalls.seccomp_attr_set(ctx, syscalls.SCMP_FLTATR_API_SYSRAWRC, 1)
        for rule in rules(privileged, allow):
            number = syscalls.seccomp_syscall_resolve_name(rule.syscall)
            if number == -1:
                raise StartError(
                    f"libseccomp does not know the syscall {rule.syscall}",
                    hint="install libseccomp2 2.5.4 or later",
                )
            action = syscalls.scmp_act_errno(rule.errno)
            if rule.when is None:
                syscalls.seccomp_rule_add(ctx, action, number)
            else:
                arg, mask, value = rule.when
                compare = (arg, syscalls.SCMP_CMP_MASKED_EQ, mask, value)
                syscalls.seccomp_rule_add(ctx, action, number, compare)
    except BaseException:
        syscalls.seccomp_release(ctx)
        raise
    return Filter(ctx)


def install(privileged: bool, allow: tuple[str, ...] = ()) -> None:
    """Build the filter and load it into the calling process, which must still see the
    host's libseccomp."""
    policy = build(privileged, allow)
    try:
        policy.load()
    finally:
        policy.release()


def unknown(names: tuple[str, ...] | list[str]) -> list[str]:
    """The names libseccomp knows no syscall by (on any architecture), in their order."""
    return [name for name in names if syscalls.seccomp_syscall_resolve_name(name) == -1]
