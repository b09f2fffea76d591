"""What a bootstrap will build, and the exact command that builds it.

A plan is pure data: the image cache keys on it, `lxpy create --dry-run` prints its command,
and the tests check the command for templates whose mirror is out of reach (ubuntu).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass

from lxpy.errors import TemplateError

PACKAGE_NAME = r"[a-z0-9][a-z0-9+.-]+"  # Debian policy's, lowercase
# Locales that every glibc has built in: nothing to generate.
BUILTIN_LOCALES = ("C", "C.UTF-8", "C.utf8", "POSIX")


def host_arch() -> str:
    """The host's architecture in Debian's words (amd64, arm64, ...)."""
    dpkg = shutil.which("dpkg")
    if dpkg:
        out = subprocess.run([dpkg, "--print-architecture"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    import platform

    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(
        platform.machine(), platform.machine()
    )


@dataclass(frozen=True)
class Plan:
    """A Debian-style bootstrap (mmdebstrap or debootstrap)."""

    template: str
    method: str
    suite: str
    mirror: str
    variant: str
    arch: str
    keyring: str
    components: tuple[str, ...]
    packages: tuple[str, ...]  # sorted and unique, so the same set always keys the same image
    locales: tuple[str, ...] = ()  # to generate after the bootstrap
    script: str = ""  # debootstrap's SCRIPT argument, for releases newer than the host's
    secrets: tuple[str, ...] = ()  # removed from the tree before it is cached

    def __post_init__(self) -> None:
        for name in ("suite", "variant", "arch"):
            if not re.fullmatch(r"[a-z0-9][a-z0-9.+_-]*", getattr(self, name)):
                raise TemplateError(f"bootstrap {name} {getattr(self, name)!r} is not valid")
        if not re.fullmatch(r"(https?|file)://[^\s'\"]+", self.mirror):
            raise TemplateError(f"mirror {self.mirror!r} is not an http(s) or file URL")
        for package in self.packages:
            if not re.fullmatch(PACKAGE_NAME, package):
                raise TemplateError(f"{package!r} is not a Debian package name")

    @property
    def key(self) -> str:
        """The image's name in the cache: readable, and unique for what goes into the tree.

        The method and the script do not count: mmdebstrap and debootstrap give the same
        system. The template's name does (in front, to be readable): its files may differ.
        The secrets do: an image built before a template listed them still holds them.
        """
        content = asdict(self)
        del content["method"], content["template"], content["script"]
        if not content["secrets"]:
            del content["secrets"]  # the keys of images built before secrets existed stay
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.template}-{self.suite}-{self.arch}-{self.variant}-{digest}"

    def tool(self) -> str:
        """The bootstrap program that will run: the declared one, else the other one."""
        order = ("mmdebstrap", "debootstrap")
        for name in sorted(order, key=lambda n: n != self.method):
            if shutil.which(name):
                return name
        raise TemplateError(
            f"neither mmdebstrap nor debootstrap is installed (template {self.template})",
            hint="apt-get install mmdebstrap",
        )

    def command(self, target: str, debs: str, tool: str | None = None) -> list[str]:
        """The argv that bootstraps into `target`, keeping downloaded packages in `debs`."""
        tool = tool or self.tool()
        common = [
            f"--variant={self.variant}",
            f"--components={','.join(self.components)}",
            f"--keyring={self.keyring}",
        ]
        if self.packages:
            common.append(f"--include={','.join(self.packages)}")
        if tool == "mmdebstrap":
            # mmdebstrap's documented way to keep apt's downloads between runs.
            archives = "/var/cache/apt/archives/"
            return [
                "mmdebstrap",
                "--mode=root",
                "--format=directory",
                f"--architectures={self.arch}",
                *common,
                "--skip=essential/unlink",
                f'--setup-hook=mkdir -p "$1"{archives}',
                f"--setup-hook=sync-in {shlex.quote(debs)} {archives}",
                f"--customize-hook=sync-out {archives} {shlex.quote(debs)}",
                self.suite,
                target,
                self.mirror,
            ]
        return [
            "debootstrap",
            f"--arch={self.arch}",
            *common,
            f"--cache-dir={debs}",
            self.suite,
            target,
            self.mirror,
            *([self.script] if self.script else []),
        ]
