"""Entry point. The monitor is dispatched before the CLI is imported: it must stay small."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["monitor"]:
        from lxpy.runtime.monitor import main as monitor_main

        sys.exit(monitor_main(sys.argv[2:]))
    from lxpy.cli import main as cli_main

    code = cli_main(sys.argv[1:])
    # Skip interpreter teardown (module finalization is measurable in every command): there
    # is nothing left to release but memory, and the container lives in other processes.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
