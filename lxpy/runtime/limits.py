"""A container's limits in its cgroups: in the kernel's units, at start and live."""

from __future__ import annotations

from lxpy import store
from lxpy.config.limits import CGROUP_LIMITS, LIMITS
from lxpy.errors import UsageError
from lxpy.linux.cgroups import ContainerCgroups, LimitError
from lxpy.runtime.state import read_live

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: every command imports this through lifecycle
if TYPE_CHECKING:
    from typing import Any

    from lxpy.config import ContainerConfig, Limits
    from lxpy.paths import Paths


def kernel_values(limits: Limits) -> dict[str, Any]:
    """Every cgroup limit as the cgroup layer takes it (sizes in bytes, a cpuset as the
    kernel's list), None where there is none (so applying these lifts a removed one)."""
    return {
        key: LIMITS[key].in_kernel_units(value)
        for key, value in limits.items()
        if key in CGROUP_LIMITS
    }


def apply(paths: Paths, name: str, old: ContainerConfig, new: ContainerConfig) -> bool:
    """Save `new`; its limits take effect at once if the container runs. True when the
    rest (if anything else changed) waits for the next start."""
    running = read_live(paths, name).active
    if new.limits.disk != old.limits.disk:  # on its storage: running or not
        from lxpy.storage import quota

        quota.apply(paths, name, new)
    if running and new.limits != old.limits:
        cgroups = ContainerCgroups(paths.instance, name)
        try:
            cgroups.apply_limits(kernel_values(new.limits))
        except (LimitError, OSError) as e:
            # Put back what was there: the file and the running limits stay in step.
            cgroups.apply_limits(kernel_values(old.limits))
            raise UsageError(f"cannot apply the limits to {name}: {e}") from None
    store.save(paths, name, new)
    # The user is read by each attach and shell, not by the running container.
    return running and new.with_changes(limits=old.limits, user=old.user) != old
