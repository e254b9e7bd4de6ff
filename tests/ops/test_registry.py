"""The one table of actions: what each state offers, quick keys, and what the CLI is made of."""

import pytest

from vmm.ops import registry


@pytest.mark.parametrize(
    ("state", "offered"),
    [
        ("running", ["shutdown", "off", "reboot", "reset", "pause", "save"]),
        ("blocked", ["shutdown", "off", "reboot", "reset", "pause", "save"]),
        ("paused", ["resume", "off", "save"]),
        ("pmsuspended", ["resume", "off", "save"]),
        ("shutdown", ["off"]),
        ("saved", ["restore", "fresh", "discard-save"]),
        ("shutoff", ["start"]),
        ("crashed", ["start"]),
        ("nostate", ["start"]),
    ],
)
def test_each_state_is_offered_what_fits_it(state, offered):
    assert [action.name for action in registry.offered(state)] == offered


def test_what_loses_something_is_asked_first():
    asked = {action.name for action in registry.ACTIONS if action.confirm}
    assert asked == {"fresh", "discard-save", "off", "reset"}


def test_quick_keys_name_their_actions():
    assert {key: a.name for key, a in registry.BY_KEY.items()} == {
        "ctrl-s": "start", "ctrl-x": "shutdown", "ctrl-o": "off", "ctrl-v": "save",
    }  # fmt: skip


def test_variants_are_journalled_as_the_command_that_does_them():
    assert registry.BY_NAME["restore"].journal_name == "start"
    assert registry.BY_NAME["fresh"].options == {"fresh": True}


def test_every_simple_command_has_help_and_no_importing_libvirt_to_list_them():
    import subprocess
    import sys

    probe = (
        "import sys; from vmm.ops import registry; registry.simple_commands();"
        " print('libvirt' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
    assert all(action.help for action in registry.simple_commands())
