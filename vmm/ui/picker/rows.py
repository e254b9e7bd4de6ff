"""The rows the picker shows: a VM's mark, name, state and labels; a folder's contents."""

from __future__ import annotations

from vmm.model import tree
from vmm.model.domain import Domain
from vmm.ui.menus import Cell, Row

# the views at the bottom of every folder
VIEWS = (
    ("all", "⋯ All VMs"),
    ("running", "⋯ Running"),
    ("labels", "⋯ Labels"),
    ("new", "⋯ New VM"),
)


def vm_cells(domain: Domain, *, place: bool = False, with_host: bool = False) -> tuple[Cell, ...]:
    state = domain.shown
    labels = tuple(Cell(f"  #{label}", "label") for label in domain.labels)
    return (
        Cell(f"{state.mark} ", state.style),
        Cell(domain.place if place else domain.ref),
        *((Cell(f"  @{domain.host}", "dim"),) if with_host and domain.host else ()),
        Cell(f"  {state.name}", "dim"),
        *labels,
    )


def vm_row(domain: Domain, *, place: bool = False, with_host: bool = False) -> Row:
    """A VM's row; its key is `vm:` and the listing's key for it."""
    return Row(f"vm:{domain.key}", vm_cells(domain, place=place, with_host=with_host))


def folder_rows(path: str, vms: list[Domain], *, with_host: bool) -> list[Row]:
    """`..` (below /), the subfolders with their VM counts, the VMs, then the views."""
    rows = [Row.plain("up", "..", "folder")] if path != tree.ROOT else []
    for folder in tree.subfolders(path, vms):
        cells = (Cell(f"▸ {folder.name}/", "folder"), Cell(f"  ({folder.vms})", "dim"))
        rows.append(Row(f"dir:{folder.path}", cells))
    rows += [vm_row(d, with_host=with_host) for d in tree.in_folder(path, vms)]
    rows += [Row.plain(key, text, "action") for key, text in VIEWS]
    return rows


def label_rows(counts: dict[str, int]) -> list[Row]:
    return [
        Row(f"l:{label}", (Cell(f"#{label}", "label"), Cell(f"  ({n})", "dim")))
        for label, n in counts.items()
    ]
