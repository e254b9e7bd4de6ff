"""The session: what the global options chose, and the host (or hosts) opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from vmm.ui.cli.output import warn

if TYPE_CHECKING:
    from vmm.model.domain import Domain
    from vmm.virt.hosts import Hosts


@dataclass
class Session:
    """What the global options chose; the host is opened on first use and closed at exit."""

    uri_option: str | None = None
    demo: bool = False
    all_hosts: bool = False
    _host: Hosts | None = field(default=None, repr=False)
    _owns_host: bool = True
    _others: list = field(default_factory=list, repr=False)  # hosts opened by other_host

    @classmethod
    def borrowing(cls, host: Hosts) -> Session:
        """A session over a connection someone else opened (and will close): tests, the picker."""
        return cls(_host=host, _owns_host=False)

    def host(self, *, keepalive: bool = True) -> Hosts:
        """The host (or, with several configured hosts, the Fleet that stands for them).

        `keepalive=False` (vmm.virt.connection) when it is opened only to be listed."""
        if self._host is None:
            from vmm.ops.history import History, default_path
            from vmm.ui.config import resolve
            from vmm.virt.host import Host

            target = resolve(self.uri_option, demo=self.demo, all_hosts=self.all_hosts)
            # the demo's changes last one run: journalled in the user's history, they would
            # sit among real hosts' entries (and `vmm history` would show them for good)
            history = None if self.demo else History(default_path())
            if target.hosts:
                from vmm.virt.fleet import Fleet, HostSpec

                specs = [HostSpec(h.name, h.uri, h.pool) for h in target.hosts]
                self._host = Fleet.open(
                    specs, timeout=target.timeout, history=history, keepalive=keepalive
                )
            else:
                self._host = Host.open(
                    target.uri, target.name, history, target.timeout, keepalive=keepalive
                )
                self._host.pool = target.pool
            _warn_of_interrupted_operations()
            from vmm.ops import faults

            faults.point("session.opened")
        return self._host

    def other_host(self, name: str):
        """The configured host `name` (one of the open Fleet's, or opened now); None if no
        host of the config has that name."""
        for host in self.host().hosts:
            if host.name == name:
                return host
        from vmm.ops.history import History, default_path
        from vmm.ui.config import config_path, load
        from vmm.virt.host import Host

        config = load(config_path())
        chosen = config.host(name)
        if chosen is None:
            return None
        history = self.host().home.history or History(default_path())
        opened = Host.open(chosen.uri, chosen.name, history, config.timeout)
        opened.pool = chosen.pool
        self._others.append(opened)
        return opened

    @property
    def configured(self) -> bool:
        """Whether the host comes from the options (not borrowed, already open)."""
        return self._owns_host and self._host is None

    @property
    def several_hosts(self) -> bool:
        return self.host().several

    def domains(self) -> list[Domain]:
        """The listing commands' VMs: they list, print and exit, so their host needs no
        keepalive, only the listing's own guard."""
        domains = self.host(keepalive=False).domains()
        self.flush_warnings()
        for domain in domains:
            if domain.warning:
                warn(domain.warning)
        return domains

    def flush_warnings(self) -> None:
        """A Fleet's unreachable hosts, one line each."""
        if self._host is None:
            return
        for warning in self._host.warnings:
            warn(warning)
        self._host.warnings.clear()

    def close(self) -> None:
        self.flush_warnings()
        if self._host is not None and self._host.history is not None:
            for failure in self._host.history.failures:
                warn(failure)
            self._host.history.failures.clear()
        if self._host is not None and self._owns_host:
            self._host.close()
            self._host = None
        for other in self._others:
            other.close()
        self._others.clear()


pass_session = click.make_pass_decorator(Session)


def _warn_of_interrupted_operations() -> None:
    """One directory listing: an operation cut short is told of by every command until
    `vmm doctor` cleans or forgets it."""
    from vmm.ops.intents import interrupted

    for record in interrupted():
        warn(f"{record.operation} was cut short (pid {record.pid}): see 'vmm doctor'")
