"""Entry point. The monitor and the launcher come before the CLI's imports: both must stay
small, and a monitor forked from the full CLI would carry all of its memory."""

from __future__ import annotations

import os
import sys

from lxpy.cmdline import command_word


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["monitor"]:
        from lxpy.runtime.monitor import main as monitor_main

        sys.exit(monitor_main(argv[1:]))
    launcher = None
    if command_word(argv) in ("start", "restart", "autostart"):
        from lxpy.runtime.launcher import Launcher

        launcher = Launcher.fork()
    from lxpy.cli import main as cli_main

    code = cli_main(argv, launcher)
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
