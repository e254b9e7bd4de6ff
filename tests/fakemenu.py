"""A Menu that answers from a script and records every Screen it was shown.

Each step names the screen it expects (its prompt) and answers it: a row picked by its key or
text, a quick key over selected rows, typed text, or Esc. When the script runs out every screen
is answered with Esc, so the picker backs out to the root and returns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from vmm.ui.menus import Cancelled, Choice, Row, Screen

Answer = Callable[[Screen], Choice]


@dataclass(frozen=True)
class Step:
    prompt: str | None  # the screen this step expects; None: whichever comes
    answer: Answer


def find_row(screen: Screen, wanted: str) -> Row:
    """The row whose key, text or one of whose cells is `wanted`; else the one row holding it."""
    exact = [
        row
        for row in screen.rows
        if wanted in (row.key, row.text.strip(), *(cell.text.strip() for cell in row.cells))
    ]
    if len(exact) == 1:
        return exact[0]
    holding = [row for row in screen.rows if wanted in row.text]
    if len(holding) == 1 and not exact:
        return holding[0]
    shown = "\n  ".join(row.text for row in screen.rows)
    raise AssertionError(f"{wanted!r} picks {len(exact) or len(holding)} rows of:\n  {shown}")


def pick(wanted: str, *, on: str | None = None) -> Step:
    """Enter on one row."""
    return Step(on, lambda screen: Choice("enter", (find_row(screen, wanted).key,)))


def press(key: str, *selected: str, on: str | None = None) -> Step:
    """A quick key (ctrl-s, ...) with these rows selected (Tab)."""

    def answer(screen: Screen) -> Choice:
        assert key in screen.keys, f"{key} is not offered on {screen.prompt!r}"
        return Choice(key, tuple(find_row(screen, text).key for text in selected))

    return Step(on, answer)


def type_in(query: str, *, on: str | None = None) -> Step:
    """Typed text taken as is (alt-enter): no row chosen."""

    def answer(screen: Screen) -> Choice:
        assert screen.free_text, f"{screen.prompt!r} takes no typed text"
        return Choice("enter", (), query)

    return Step(on, answer)


def type_then_enter(query: str, *, on: str | None = None) -> Step:
    """Text typed, then Enter, as fzf answers it: with the first row the text fuzzily matches
    (its letters in order), and the text itself."""

    def answer(screen: Screen) -> Choice:
        def matches(text: str) -> bool:
            rest = iter(text.casefold())
            return all(letter in rest for letter in query.casefold())

        found = [row.key for row in screen.rows if matches(row.text)]
        return Choice("enter", tuple(found[:1]), query)

    return Step(on, answer)


def esc(*, on: str | None = None) -> Step:
    def answer(screen: Screen) -> Choice:
        raise Cancelled

    return Step(on, answer)


def yes(question: str | None = None) -> Step:
    return pick("Yes", on=question)


def no(question: str | None = None) -> Step:
    return pick("No", on=question)


@dataclass
class ScriptedMenu:
    steps: deque[Step]
    screens: list[Screen] = field(default_factory=list)
    live = False  # no cached first draft: every screen is drawn from the real host
    follows = False  # FollowingMenu does
    redrawn: list[Screen] = field(default_factory=list)

    def redraw(self, screen: Screen) -> None:
        self.redrawn.append(screen)

    def choose(self, screen: Screen) -> Choice:
        self.screens.append(screen)
        if not self.steps:
            raise Cancelled
        step = self.steps.popleft()
        if step.prompt is not None:
            assert screen.prompt == step.prompt, (
                f"expected the screen {step.prompt!r}, shown {screen.prompt!r}"
            )
        return step.answer(screen)

    @property
    def prompts(self) -> list[str]:
        return [screen.prompt for screen in self.screens]

    def last(self, prompt: str) -> Screen:
        """The last time the screen `prompt` was shown."""
        for screen in reversed(self.screens):
            if screen.prompt == prompt:
                return screen
        raise AssertionError(f"{prompt!r} was never shown (shown: {self.prompts})")

    def texts(self, prompt: str) -> list[str]:
        """The rows of the last `prompt` screen, as the user read them."""
        return [row.text for row in self.last(prompt).rows]

    def status_after(self, index: int = -1) -> str:
        """The status line of a screen (the header's last line)."""
        return self.screens[index].header.splitlines()[-1]


@dataclass
class RecordingNotifier:
    """Outcomes as they were reported: ("info" | "error" | "progress", message)."""

    said: list[tuple[str, str]] = field(default_factory=list)

    def info(self, message: str) -> None:
        self.said.append(("info", message))

    def error(self, message: str) -> None:
        self.said.append(("error", message))

    def progress(self, message: str, percent: int) -> None:
        self.said.append(("progress", f"{message}: {percent}%"))


def meanwhile(change: Callable[[], object], step: Step) -> Step:
    """`step`, after `change` happened behind the picker's back (another client, say)."""

    def answer(screen: Screen) -> Choice:
        change()
        return step.answer(screen)

    return Step(step.prompt, answer)
