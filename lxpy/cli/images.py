"""Templates and the image cache: templates, cache."""

from __future__ import annotations

from lxpy.cli import output
from lxpy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from lxpy.api import Api


def templates(api: Api, args: Namespace) -> int:
    if args.action == "ls":
        rows = [("NAME", "INIT", "BOOTSTRAP", "FROM", "DESCRIPTION")]
        for t in api.templates():
            rows.append(
                (
                    t.name,
                    t.init_kind.replace("{{ init }}", "/".join(t.inits)),
                    t.bootstrap.method,
                    str(t.directory.parent),
                    t.description,
                )
            )
        output.table(rows)
        return 0
    if not args.template:
        raise UsageError("`lxpy templates show` needs a template name")
    t = api.template(args.template)
    print(f"{t.name}: {t.description}")
    print(f"from:      {t.directory}")
    print(f"bootstrap: {t.bootstrap.method}")
    for kind, init in t.inits.items():
        print(
            f"init:      {kind}: {' '.join(init.command)}, halt {init.halt_signal}, "
            f"reboot {init.reboot_signal}"
        )
    if t.parameters:
        params: list[tuple[str, ...]] = [("PARAMETER", "TYPE", "DEFAULT", "DESCRIPTION")]
        for p in t.parameters.values():
            kind = f"one of {'|'.join(p.choices)}" if p.choices else p.type
            params.append((p.name, kind, p.show(p.default) or '""', p.description))
        print()
        output.table(params)
    return 0


def cache(api: Api, args: Namespace) -> int:
    if args.action == "ls":
        from lxpy.api import Image

        rows = [("IMAGE", "RELEASE", "ARCH", "PACKAGES", "SIZE", "BUILT", "USED BY")]
        for item, users in api.images():
            if isinstance(item, Image):
                packages = item.plan.get("packages", [])
                release, arch = str(item.plan.get("suite", "?")), str(item.plan.get("arch", "?"))
                shown = str(len(packages)) if isinstance(packages, list) else "?"
            else:  # a package layer, on the lines under its build: what it adds
                release, arch, shown = "+", "+", "+" + ",".join(item.packages)
            rows.append(
                (
                    item.ref,
                    release,
                    arch,
                    shown,
                    f"{item.size / 2**20:.0f}M",
                    item.built,
                    ",".join(users) or "-",
                )
            )
        output.table(rows)
        return 0
    if args.action == "rm":
        if not args.images:
            raise UsageError("`lxpy cache rm` needs KEY[/BUILD[/LAYER]] (see `lxpy cache ls`)")
        for selector in args.images:
            for image in api.remove_image(selector):
                print(f"removed {image.ref}")
        return 0
    progress = output.progress(args.quiet)
    for image in api.refresh_images(args.images, progress):
        progress.close()
        print(image.ref)
    return 0
