"""Where vmm's settings come from: command line, environment, config file, libvirt's default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from vmm.model.errors import InvalidInput


@dataclass(frozen=True)
class HostConfig:
    name: str
    uri: str
    pool: str | None = None  # where full clones go (linked clones stay beside their base)


@dataclass(frozen=True)
class Config:
    uri: str | None = None
    menu: str | None = None  # the picker's default menu: fzf, wofi or dmenu
    menu_command: str | None = None  # the dmenu-style launcher, e.g. "fuzzel --dmenu"
    hosts: tuple[HostConfig, ...] = ()
    all_hosts: bool = False  # use every configured host unless -c picks one
    timeout: float = 5.0  # seconds a host may take to connect or list
    terminal: str | None = None  # wofi's SSH runs `TERMINAL -e ssh ...` (after $TERMINAL)
    profiles: Mapping[str, object] = field(default_factory=dict)  # vmm.model.profiles reads them

    def host(self, name: str) -> HostConfig | None:
        return next((h for h in self.hosts if h.name == name), None)


# Paths are strings joined with os.path: pathlib (with urllib and ipaddress behind it) would
# add some 10 ms to every start.


def config_path(env: Mapping[str, str] = os.environ) -> str:
    home = os.path.expanduser(env.get("HOME", "~"))
    base = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(base, "vmm", "config.toml")


def _expect(path: str, key: str, value: object, kind: type | tuple[type, ...]) -> None:
    if value is not None and not isinstance(value, kind):
        raise InvalidInput(f"{path}: '{key}' has the wrong type")


def _hosts(path: str, table: object) -> tuple[HostConfig, ...]:
    _expect(path, "hosts", table, dict)
    hosts = []
    for name, entry in (table or {}).items():
        _expect(path, f"hosts.{name}", entry, dict)
        if ":" in name or not name.strip():
            raise InvalidInput(
                f"{path}: host name {name!r} cannot be used (VMs are named HOST:NAME)"
            )
        uri, pool = entry.get("uri"), entry.get("pool")
        if not isinstance(uri, str):
            raise InvalidInput(f"{path}: hosts.{name} needs a uri")
        _expect(path, f"hosts.{name}.pool", pool, str)
        hosts.append(HostConfig(name, uri, pool))
    return tuple(hosts)


KEYS = ("uri", "menu", "menu_command", "hosts", "all_hosts", "timeout", "terminal", "profiles")
HOST_KEYS = ("uri", "pool")
_told: set[str] = set()  # warnings already given by this process (the picker reads twice)


def _warn_of_unknown_keys(path: str, text: str, data: dict) -> None:
    """A key vmm does not know is most likely a typo (`timout`): it would be ignored without
    a word, so each is told of, with its line (tomllib knows no lines: the text is scanned)."""
    unknown = [(key, None, KEYS) for key in data if key not in KEYS]
    hosts = data.get("hosts")
    for name, entry in hosts.items() if isinstance(hosts, dict) else ():
        if isinstance(entry, dict):
            unknown += [(key, name, HOST_KEYS) for key in entry if key not in HOST_KEYS]
    if not unknown:
        return
    import difflib

    from vmm.ui.cli.output import warn

    for key, host, known in unknown:
        line = _line_of(text, key, host)
        where = f"{path}:{line}" if line else path
        shown = f"hosts.{host}.{key}" if host is not None else key
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
        warning = f"{where}: unknown key {shown!r} is ignored ({hint})"
        if warning not in _told:
            _told.add(warning)
            warn(warning)


def _line_of(text: str, key: str, host: str | None) -> int | None:
    """The line (from 1) where `key` is set, inside the table [hosts.HOST] if `host`."""
    import re

    def name(word: str) -> str:
        escaped = re.escape(word)
        return f"(?:{escaped}|\"{escaped}\"|'{escaped}')"

    lines = text.splitlines()
    start = 0
    if host is not None:
        header = re.compile(rf"^\s*\[\s*hosts\s*\.\s*{name(host)}\s*\]")
        start = next((i + 1 for i, line in enumerate(lines) if header.match(line)), 0)
    setting = re.compile(rf"^\s*(?:\[+\s*)?{name(key)}\s*[=.\]]")
    inline = re.compile(rf"[{{,]\s*{name(key)}\s*=")  # an inline table: lab = { url = "..." }
    for number in range(start, len(lines)):
        if setting.match(lines[number]) or inline.search(lines[number]):
            return number + 1
    return None


def load(path: str) -> Config:
    """Read the config file; a missing file means the defaults."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        return Config()
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err}") from None
    import tomllib  # only once there is a file to read: start-up time counts

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInput(f"cannot read {path}: {err}") from None
    _warn_of_unknown_keys(path, raw.decode("utf-8"), data)
    for key in ("uri", "menu", "menu_command", "terminal"):
        _expect(path, key, data.get(key), str)
    _expect(path, "all_hosts", data.get("all_hosts"), bool)
    _expect(path, "profiles", data.get("profiles"), dict)
    timeout = data.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 3600:
        raise InvalidInput(f"{path}: 'timeout' must be a number of seconds, above 0 and below 3600")
    if data.get("uri") == "":
        raise InvalidInput(f"{path}: 'uri' is empty (leave it out for libvirt's default)")
    return Config(
        uri=data.get("uri"),
        menu=data.get("menu"),
        menu_command=data.get("menu_command"),
        hosts=_hosts(path, data.get("hosts")),
        all_hosts=bool(data.get("all_hosts", False)),
        timeout=float(timeout),
        terminal=data.get("terminal") or None,
        profiles=data.get("profiles") or {},
    )


def terminal_argv(env: Mapping[str, str] = os.environ) -> list[str]:
    """The user's terminal emulator as argv (`-e COMMAND...` follows): $TERMINAL, else the
    config's `terminal`; its words split as a shell would, never run through one."""
    import shlex

    chosen = env.get("TERMINAL") or load(config_path(env)).terminal
    try:
        words = shlex.split(chosen) if chosen else []
    except ValueError as err:
        raise InvalidInput(f"the terminal {chosen!r} cannot be read: {err}") from None
    if not words:
        raise InvalidInput(
            'ssh needs a terminal: set $TERMINAL, or terminal = "foot" in the config file'
            f" ({config_path(env)})"
        )
    return words


def demo_uri() -> str:
    """libvirt's test driver loaded with the demo host bundled in the package."""
    node = os.path.join(
        os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "data", "demo-host.xml"
    )
    return f"test://{node}"


@dataclass(frozen=True)
class Target:
    """What to connect to: one URI (None: libvirt's default), or several named hosts."""

    uri: str | None = None
    name: str = ""
    hosts: tuple[HostConfig, ...] = ()
    timeout: float = 5.0
    pool: str | None = None


def conflict(option: str | None, *, demo: bool, all_hosts: bool) -> str:
    """Why these choices of host cannot go together ("" when they can): each names the host."""
    if demo and option is not None:
        return "--demo is a host of its own: it cannot go with -c (leave one out)"
    if demo and all_hosts:
        return "--demo is a host of its own: it cannot go with --all-hosts (leave one out)"
    if all_hosts and option is not None:
        return "-c picks one host and --all-hosts every configured one: leave one out"
    return ""


def resolve(
    option: str | None,
    *,
    demo: bool = False,
    all_hosts: bool = False,
    env: Mapping[str, str] = os.environ,
) -> Target:
    """-c NAME|URI, else --all-hosts, else $LIBVIRT_DEFAULT_URI, else the config file."""
    clash = conflict(option, demo=demo, all_hosts=all_hosts)
    if clash:
        raise InvalidInput(clash)
    if demo:
        return Target(demo_uri(), "demo")
    if option is not None and not option.strip():
        raise InvalidInput("-c needs a host name or a URI")
    config = load(config_path(env))  # its timeout holds for a URI given directly too
    if option and ":" in option and not all_hosts:
        return Target(option, timeout=config.timeout)
    if option:
        chosen = config.host(option)
        if chosen is None:
            known = ", ".join(h.name for h in config.hosts) or "none configured"
            raise InvalidInput(
                f"{option!r} is neither a libvirt URI nor a configured host ({known})"
            )
        return Target(chosen.uri, chosen.name, timeout=config.timeout, pool=chosen.pool)
    if all_hosts or (config.all_hosts and not env.get("LIBVIRT_DEFAULT_URI")):
        if not config.hosts:
            raise InvalidInput(f"--all-hosts needs [hosts.NAME] tables in {config_path(env)}")
        return Target(hosts=config.hosts, timeout=config.timeout)
    if env.get("LIBVIRT_DEFAULT_URI"):
        return Target(env["LIBVIRT_DEFAULT_URI"], timeout=config.timeout)
    return Target(config.uri, timeout=config.timeout)
