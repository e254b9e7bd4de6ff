"""Desktop notifications where notify-send cannot deliver them (with it, see test_wofi.py)."""

from vmm.ui.notify import Desktop


def test_without_notify_send_the_message_goes_to_stderr(capsys):
    Desktop("no-such-notify-send").error("cannot start 'web': it is running")
    assert capsys.readouterr().err == (
        "vmm: error: cannot start 'web': it is running (no-such-notify-send is not installed)\n"
    )
