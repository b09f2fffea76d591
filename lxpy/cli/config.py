"""`lxpy config`: a container's config.toml, read and changed by dotted keys."""

from __future__ import annotations

import sys

from lxpy.cli import output
from lxpy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from typing import Any

    from lxpy.api import Api


def config(api: Api, args: Namespace) -> int:
    if args.action == "show":
        sys.stdout.write(api.config_text(args.name))
        return 0
    if args.action == "edit":
        later = api.config_edit(args.name)
    elif not args.keys:
        raise UsageError(f"`lxpy config {args.action}` needs a KEY")
    elif args.action == "get":
        for key in args.keys:
            value = api.config_get(args.name, key)
            print(value if isinstance(value, str) else _toml_value(value))
        return 0
    else:
        later = False
        for item in args.keys:
            key, sep, text = item.partition("=")
            if args.action == "set" and not sep:
                raise UsageError(f"{item!r}: expected KEY=VALUE")
            value = api.config_value(text) if args.action == "set" else None
            later = api.config_set(args.name, key.strip(), value) or later
        if any(item.strip().startswith("limits.") for item in args.keys):
            output.warn(api.limit_warnings(api.config_get(args.name, "limits")))
    if later:
        print(f"{args.name} runs: the change takes effect at its next start", file=sys.stderr)
    return 0


def _toml_value(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value})[4:].strip()
