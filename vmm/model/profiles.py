"""Profiles for new VMs: `[profiles.NAME]` tables of the config, each a set of `vmm new`'s
choices, `base = "OTHER"` inheriting another's. Pure: tables in, a resolved Profile out."""

from __future__ import annotations

from dataclasses import dataclass, fields

from vmm.model.errors import InvalidInput


@dataclass(frozen=True)
class Profile:
    """What a profile sets; None (or empty) where it leaves `vmm new`'s own default."""

    image: str | None = None  # as --image takes it: a path, POOL/VOLUME, or a volume name
    memory: int | None = None  # MiB
    vcpus: int | None = None
    disk: int | None = None  # GiB
    network: str | None = None
    pool: str | None = None
    folder: str | None = None
    labels: tuple[str, ...] = ()
    user: str | None = None
    user_data: str | None = None  # a file
    cloud_init: bool | None = None


_TYPES: dict[str, type | tuple[type, ...]] = {
    "image": str,
    "memory": int,
    "vcpus": int,
    "disk": int,
    "network": str,
    "pool": str,
    "folder": str,
    "labels": list,
    "user": str,
    "user_data": str,
    "cloud_init": bool,
    "base": str,
}
KEYS = tuple(_TYPES)


def _checked(name: str, table: object) -> dict:
    if not isinstance(table, dict):
        raise InvalidInput(f"profile {name!r} is no table ([profiles.{name}])")
    for key, value in table.items():
        if key not in _TYPES:
            raise InvalidInput(f"profile {name!r}: unknown key {key!r} (known: {', '.join(KEYS)})")
        wanted = _TYPES[key]
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise InvalidInput(f"profile {name!r}: {key!r} has the wrong type")
        if key in ("memory", "vcpus", "disk") and value < 1:
            raise InvalidInput(f"profile {name!r}: {key!r} must be at least 1")
        if key == "labels" and not all(isinstance(label, str) for label in value):
            raise InvalidInput(f"profile {name!r}: 'labels' must be a list of strings")
    return table


def resolve(tables: dict, name: str) -> Profile:
    """Profile `name`, with what its `base` chain sets beneath its own settings (labels are
    added to the base's, not put in their place)."""
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current in chain:
            cycle = " -> ".join([*chain, current])
            raise InvalidInput(f"profiles inherit in a circle: {cycle}")
        if current not in tables:
            known = ", ".join(sorted(tables)) or "none in the config"
            whose = f" (the base of {chain[-1]!r})" if chain else ""
            raise InvalidInput(f"no profile {current!r}{whose}; profiles: {known}")
        chain.append(current)
        current = _checked(current, tables[current]).get("base")
    settings: dict = {}
    labels: list[str] = []  # these add up along the chain, base first; the rest is replaced
    for link in reversed(chain):
        settings.update({k: v for k, v in tables[link].items() if k != "base"})
        labels += tables[link].get("labels", [])
    settings["labels"] = tuple(dict.fromkeys(labels))
    known = {f.name for f in fields(Profile)}
    return Profile(**{k: v for k, v in settings.items() if k in known})
