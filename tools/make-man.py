"""Writes vmm's manual pages (vmm/data/man) from the click commands: `make man`."""

from pathlib import Path

from vmm.ui.cli import cli, manpage

if __name__ == "__main__":
    folder = Path(__file__).resolve().parent.parent / "vmm" / "data" / "man"
    for path in manpage.write(cli, folder):
        print(path.relative_to(folder.parent.parent.parent))
