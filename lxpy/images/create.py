"""`lxpy create`: a template plus its bootstrap become a new container directory.

Built in a hidden partial directory and renamed into place when complete, so an
interrupted create never shows up as a container and the next create cleans it up.
"""

from __future__ import annotations

import datetime
import os
import uuid

from lxpy import config, names, store
from lxpy.config import ContainerConfig, InitConfig, Limits
from lxpy.images import busybox, manifest, render
from lxpy.linux import safefs
from lxpy.paths import Paths


def create(paths: Paths, name: str | None, template_name: str) -> str:
    if name is not None:
        names.validate(name)
    template = manifest.find(template_name)
    paths.ensure()
    if name is None:
        name = names.generate(set(store.names_on_disk(paths)))
    with store.locked(paths, name):
        partial = store.new_partial(paths, name)
        try:
            rootfs = f"{partial}/rootfs"
            os.mkdir(rootfs, 0o755)
            rootfd = safefs.open_tree(rootfs)
            try:
                if template.bootstrap == "busybox":
                    busybox.bootstrap(rootfd)
                render.render_tree(
                    template.files, rootfd, {"name": name, "hostname": name}, template.file_modes
                )
            finally:
                os.close(rootfd)
            cfg = ContainerConfig(
                template=template.name,
                created=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                uuid=uuid.uuid4().hex,
                hostname=name,
                init=InitConfig(
                    kind=template.init_kind,
                    command=template.init_command,
                    halt_signal=template.halt_signal,
                ),
                limits=Limits(),
            )
            config.save(f"{partial}/config.toml", cfg)
            store.commit_partial(paths, partial, name)
        except BaseException:
            safefs.remove_tree(partial)
            raise
    return name
