"""cloud-init user-data (`create --cloud-init FILE`), as a NoCloud seed in the rootfs.

Only for templates that install cloud-init (their `cloud` parameter; `--cloud-init` sets it):
they render `/etc/cloud/cloud.cfg.d/90-lxpy.cfg`, which limits cloud-init to this seed. The
user-data is checked only for its header: lxpy has no YAML parser, and cloud-init reports its
own errors, which lxpy's provisioning runner turns into the `cloud-init` step's status.

The seed's instance-id is the uuid of the container it was written for. A clone gets a new
uuid but keeps its origin's seed, so cloud-init sees the instance it already set up and does
not run the user-data again, as lxpy does not run `--provision` scripts again in a clone.
"""

from __future__ import annotations

from lxpy.errors import UsageError
from lxpy.images.provision import read_host_file
from lxpy.linux import safefs

STEP = "cloud-init"  # its provisioning step, before the scripts
SEED = "var/lib/cloud/seed/nocloud"
# What cloud-init takes as user-data that lxpy lets through: a cloud-config or a script.
HEADERS = (b"#cloud-config", b"#!")


def read_user_data(path: str) -> bytes:
    """The host file at `path` as user-data (UsageError for one that is not a regular file
    of at most 1 MiB starting with #cloud-config or #!)."""
    data = read_host_file("--cloud-init", path)
    if not data.startswith(HEADERS):
        raise UsageError(
            f"--cloud-init {path}: not cloud-init user-data",
            hint="its first line must be #cloud-config, or #! for a script",
        )
    return data


def install(rootfd: int, user_data: bytes, instance_id: str, hostname: str) -> None:
    """The NoCloud seed in the rootfs at `rootfd` (the values are lxpy's own uuid and a
    checked name: nothing in them can break the meta-data's lines)."""
    meta = f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n"
    safefs.write_file(rootfd, f"{SEED}/meta-data", meta.encode(), 0o600)
    # It may hold password hashes and keys: root's only.
    safefs.write_file(rootfd, f"{SEED}/user-data", user_data, 0o600)
