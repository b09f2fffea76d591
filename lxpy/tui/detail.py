"""The pane under the table: the selected container's config, addresses, graphs, console."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from lxpy import units
from lxpy.api import PRIVILEGED_WARNING
from lxpy.tui.fleet import Detail, bars

HOST_MEMORY = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class DetailPane(Horizontal):
    def compose(self) -> ComposeResult:
        yield Static(id="detail-info")
        with Vertical(id="detail-live"):
            yield Static(id="cpu-now")
            yield Static(id="cpu-graph")
            yield Static(id="memory-now")
            yield Static(id="memory-graph")
            yield Static(id="console-tail")

    def show(self, detail: Detail | None) -> None:
        stats = detail.stats if detail else None
        cpu = "CPU  -"
        if stats is not None and stats.cpu_percent is not None:
            cpu = f"CPU  {stats.cpu_percent:.1f}%"
        memory = "Memory  -"
        if stats is not None and stats.memory is not None:
            limit = f" of {units.size(stats.memory_limit)}" if stats.memory_limit else ", no limit"
            memory = f"Memory  {units.size(stats.memory)}{limit}"
        console = (detail.console or "(the console is empty)") if detail else ""
        self.query_one("#detail-info", Static).update(
            _describe(detail) if detail else "no container selected"
        )
        self.query_one("#cpu-now", Static).update(cpu)
        self._graph("#cpu-graph", detail.cpu_history if detail else (), 100.0)
        self.query_one("#memory-now", Static).update(memory)
        # Scaled to the limit, or to the host's memory when there is none.
        top = float(stats.memory_limit or HOST_MEMORY) if stats else 0.0
        self._graph("#memory-graph", detail.memory_history if detail else (), top)
        tail = self.query_one("#console-tail", Static)
        # The newest lines, however wide: as many as fit (the style cuts each at the width).
        newest = console.split("\n")[-tail.size.height :] if tail.size.height else [console]
        tail.update(Text("\n".join(newest), style="dim"))

    def show_creating(self, name: str, template: str, step: str) -> None:
        """A container being made: its bootstrap's current step."""
        self.show(None)
        text = Text(name, style="bold")
        text.append(f"  creating from {template}\n")
        text.append(step or "starting", style="italic yellow")
        self.query_one("#detail-info", Static).update(text)

    def show_unreachable(self, address: str, reason: str) -> None:
        """A row whose host does not answer: why, in place of figures that are old news."""
        self.show(None)
        text = Text(address, style="bold")
        text.append("  its host does not answer\n")
        text.append(reason, style="red")
        self.query_one("#detail-info", Static).update(text)

    def _graph(self, selector: str, values: Sequence[float], top: float) -> None:
        graph = self.query_one(selector, Static)
        graph.update(Text(bars(values, top, graph.size.width), style="green"))


def _describe(detail: Detail) -> Text:
    info = detail.info
    text = Text()
    text.append(f"{info.name}", style="bold")
    text.append(f"  {info.state}")
    text.append(f"  fleet {detail.fleet}\n" if detail.fleet else "\n")
    cfg = info.config
    if cfg is None:
        text.append(f"config: {info.config_error}\n", style="red")
        return text
    release = cfg.parameters.get("release")
    text.append(f"template {cfg.template}{f' {release}' if isinstance(release, str) else ''}")
    text.append(f", init {cfg.init.kind}\n")
    pool = f"{cfg.storage.pool} ({cfg.storage.kind})" if cfg.storage.pool else cfg.storage.kind
    text.append(f"pool {pool}, disk ")
    if info.disk is None:
        text.append("- (not counted yet)\n")
    else:
        limit = "" if info.disk.limit is None else f" of {units.size(info.disk.limit)}"
        text.append(f"{units.size(info.disk.used)}{limit}\n")
        text.append(f"  {info.disk.origin}\n", style="dim")
    if cfg.security.privileged:
        text.append(f"{PRIVILEGED_WARNING}\n", style="bold red")
    elif (idmap := cfg.security.idmap) is not None:
        last = idmap.host + idmap.size - 1
        text.append(f"unprivileged: ids 0-{idmap.size - 1} are host ids {idmap.host}-{last}\n")
    addresses = ", ".join(info.ipv4) or "-"
    nics = ", ".join(n.network for n in cfg.network) or "none"
    text.append(f"address {addresses} (network {nics})\n")
    if cfg.ports:
        text.append(f"ports {', '.join(str(p) for p in cfg.ports)}\n")
    limits = cfg.limits.to_dict()
    shown = ", ".join(f"{k} {v}" for k, v in limits.items()) or "none"
    text.append(f"limits {shown}\n")
    text.append(f"autostart {'yes' if cfg.autostart else 'no'}")
    if cfg.autostart:
        text.append(f" (order {cfg.autostart_order}, delay {cfg.autostart_delay:g} s)")
    text.append("\n")
    if info.oom_kills:
        text.append(f"OOM kills {info.oom_kills}\n", style="red")
    text.append(f"uptime {units.duration(info.uptime)}, created {cfg.created}", style="dim")
    return text
