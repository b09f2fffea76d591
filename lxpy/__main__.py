"""Entry point. The monitor and the launcher come before the CLI's imports: both must stay
small, and a monitor forked from the full CLI would carry all of its memory. The two faces
meet only here: the CLI is handed the TUI to run for `lxpy tui` (and `lxpy` on a terminal).
"""

from __future__ import annotations

import os
import sys

from lxpy.cli.cmdline import command_word

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Api


def _tui(api: Api, remote: str | None) -> int:
    from lxpy.tui.app import run

    return run(api, remote)


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["monitor"]:
        from lxpy.runtime.monitor import main as monitor_main

        sys.exit(monitor_main(argv[1:]))
    launcher = None
    if command_word(argv) in ("start", "restart", "autostart"):
        from lxpy.runtime.launcher import Launcher

        launcher = Launcher.fork()
    from lxpy.cli.main import main as cli_main

    code = cli_main(argv, launcher, _tui)
    # Skip interpreter teardown (module finalization is measurable in every command): there
    # is nothing left to release but memory, and the container lives in other processes.
    # Exiting also closes the launcher's request socket, which ends it.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":
    main()
