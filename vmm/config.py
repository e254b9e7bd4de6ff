"""Where vmm's settings come from: command line, environment, config file, libvirt's default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vmm.errors import InvalidInput


@dataclass(frozen=True)
class Config:
    uri: str | None = None
    menu: str | None = None  # the picker's default menu: fzf, wofi or dmenu
    menu_command: str | None = None  # the dmenu-style launcher, e.g. "fuzzel --dmenu"


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "vmm" / "config.toml"


def load(path: Path) -> Config:
    """Read the config file; a missing file means the defaults."""
    import tomllib  # only when there is no -c or $LIBVIRT_DEFAULT_URI: start-up time counts

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInput(f"cannot read {path}: {err}") from None
    for key in ("uri", "menu", "menu_command"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidInput(f"{path}: '{key}' must be a string")
    return Config(uri=data.get("uri"), menu=data.get("menu"), menu_command=data.get("menu_command"))


def demo_uri() -> str:
    """libvirt's test driver loaded with the demo host bundled in the package."""
    node = Path(__file__).resolve().parent / "data" / "demo-host.xml"
    return f"test://{node}"


def resolve_uri(
    option: str | None, *, demo: bool = False, env: Mapping[str, str] = os.environ
) -> str | None:
    """The URI to open; None leaves the choice to libvirt."""
    if demo:
        return demo_uri()
    if option:
        return option
    if env.get("LIBVIRT_DEFAULT_URI"):
        return env["LIBVIRT_DEFAULT_URI"]
    return load(config_path(env)).uri
