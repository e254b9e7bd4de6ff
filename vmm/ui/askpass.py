"""`vmm-askpass PROMPT`: ssh's SSH_ASKPASS in wofi mode. Prints what was typed into
`wofi --password`; exits non-zero when cancelled, so ssh gives up instead of hanging."""

from __future__ import annotations

import sys

from vmm.ui.menus import Cancelled, MenuError
from vmm.ui.menus.wofi import WofiMenu


def main() -> None:
    prompt = " ".join(sys.argv[1:]).strip() or "password"
    try:
        print(WofiMenu().password(prompt))
    except (Cancelled, MenuError):
        sys.exit(1)
