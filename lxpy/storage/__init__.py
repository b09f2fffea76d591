"""A container's root filesystem on disk: a plain directory or an overlay (`overlay`), the
sealed layers snapshots and clones stand on (`layers`), storage pools (`pools`) and the
btrfs subvolumes of containers in them (`btrfs`), disk quotas (`quota`), snapshots, clones
and renames, the files inside that name the machine (`identity`), the per-machine secrets
removed from images, new containers, clones and imports (`secrets`), a container's files
chowned into its host ids where the store cannot be idmapped (`shift`), export and import
(`archive`), whole trees copied and measured (`trees`), each container's disk figure, read
without a walk (`usage`).

Storage sits below the runtime, which mounts what it keeps, so it never reads whether a
container runs: an operation on one that may be running is handed a `Runtime` by its
caller (the API hands it `lxpy.runtime.hold`).
"""

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: `lxpy start` imports this package
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Protocol

    from lxpy.linux.safefs import Root
    from lxpy.paths import Paths

    class Runtime(Protocol):
        """What storage asks of the runtime about a container that may be running."""

        def running(self, paths: Paths, name: str) -> bool:
            """Whether it runs (or starts, or stops); under its lock it cannot start."""

        def paused(self, paths: Paths, name: str) -> AbstractContextManager[bool]:
            """It held still, if it runs, for as long as the block lasts; yields whether it
            runs. One that was frozen already stays frozen."""

        def root(self, paths: Paths, name: str) -> AbstractContextManager[Root]:
            """Its `/` as it sees it (the caller holds its lock)."""
