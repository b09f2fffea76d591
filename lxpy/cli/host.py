"""`lxpy check`: the host's report."""

from __future__ import annotations

from argparse import Namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Api


def check(api: Api, args: Namespace) -> int:
    findings = api.check()
    missing = any(f.needed and not f.ok for f in findings)
    if args.format == "json":
        import json

        print(json.dumps([f.to_json() for f in findings], indent=2))
        return int(missing)
    area = ""
    for f in findings:
        if f.area != area:
            area = f.area
            print(f"{area}:")
        mark = "ok" if f.ok else "MISSING" if f.needed else "off"
        line = f"  {mark:<8}{f.item}"
        if f.detail:
            line += f": {f.detail}"
        if not f.ok and f.needed_for:
            line += f" (needed for {f.needed_for})"
        print(line)
        if f.fix:
            print(f"            fix: {f.fix}")
    print("lxpy can run containers here" if not missing else "lxpy cannot run containers here")
    return int(missing)
