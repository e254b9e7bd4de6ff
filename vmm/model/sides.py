"""A VM's vmm metadata as stored on its two sides (config and live state), and which to show.

Pure: other tools write one side only, so the two can differ; `choose` says which side is
newer where that can be known (README: How the metadata looks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from vmm.model import metadata
from vmm.model.metadata import MalformedMetadata, Metadata


@dataclass(frozen=True)
class MetadataChange:
    vm: str
    uuid: str
    before: Metadata
    after: Metadata
    notes: tuple[str, ...] = ()  # what the user should know: a side overwritten, a saved state


@dataclass(frozen=True)
class Stored:
    """One side's vmm element as read: its meaning, its text, and why it is unreadable if so."""

    meta: Metadata = field(default_factory=Metadata)
    present: bool = False
    raw: str = ""
    problem: str | None = None

    @property
    def meaning(self) -> tuple[bool, Metadata, str | None]:
        return self.present, self.meta, self.problem


def stored_from_text(text: str | None) -> Stored:
    if text is None:
        return Stored()
    try:
        return Stored(metadata.from_xml(text), True, text)
    except MalformedMetadata as err:
        return Stored(Metadata(), True, text, str(err))


def stored_from_element(element: etree._Element | None) -> Stored:
    """The listing's reading of an element from a definition (its text is not kept)."""
    if element is None:
        return Stored()
    try:
        return Stored(metadata.from_element(element, keep_source=False), True)
    except MalformedMetadata as err:
        return Stored(Metadata(), True, etree.tostring(element, encoding="unicode"), str(err))


CONFIG, LIVE = "config", "live state"


@dataclass(frozen=True)
class Reading:
    """What vmm takes as a VM's metadata. When the config and the live state differ, `other`
    is the side not taken, which the next write overwrites (and journals)."""

    chosen: Stored
    other: Stored | None = None
    other_side: str = ""
    warning: str | None = None

    @property
    def meta(self) -> Metadata:
        return self.chosen.meta


def describe(meta: Metadata) -> str:
    """A folder and its labels on one line: `/lab/web #web #prod`."""
    return meta.path + "".join(f" #{label}" for label in meta.labels)


def _holds(side: Stored, written: Metadata) -> bool:
    return side.problem is None and (side.meta.path, side.meta.labels) == (
        written.path,
        written.labels,
    )


def _newer_side(config: Stored, live: Stored, last: Metadata | None) -> str | None:
    """Which side another tool wrote since vmm did, where that can be known: vmm writes both
    sides at once, so the side still holding vmm's last write is the older one, and a side
    with no element at all was written by nobody since."""
    if last is not None and _holds(config, last) != _holds(live, last):
        return LIVE if _holds(config, last) else CONFIG
    if config.present != live.present:
        return CONFIG if config.present else LIVE
    return None


def choose(
    config: Stored | None,
    live: Stored | None,
    last_written: Callable[[], Metadata | None] = lambda: None,
) -> Reading:
    """The side to show of a VM with a config and a live state (either may be missing: a
    transient VM, a shut-off one). `last_written` is what vmm last wrote, if it is known."""
    if config is None or live is None:
        return Reading(config or live or Stored())
    if config.meaning == live.meaning:
        return Reading(config)
    newer = _newer_side(config, live, last_written())
    if newer == LIVE:
        return Reading(live, config, CONFIG)
    if newer == CONFIG:
        return Reading(config, live, LIVE)
    warning = (
        f"its live state ({summary(live)}) and its config ({summary(config)}) differ and"
        " which is newer cannot be known: the config's is shown, and the next change keeps it"
        " (the history keeps the live state's)"
    )
    return Reading(config, live, LIVE, warning)


def summary(side: Stored) -> str:
    """One side's vmm element on one line."""
    if side.problem is not None:
        return "unreadable"
    return describe(side.meta) if side.present else "no vmm metadata"
