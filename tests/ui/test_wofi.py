"""wofi mode driven as a person would: a headless Sway, the real wofi, typing with wtype,
notifications read back from mako; results checked through libvirt."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SHARED_URI, require, vmm_exe, vmm_meta

from vmm.virt.host import Host

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "artifacts"
NEEDED = ("sway", "wofi", "wtype", "grim", "mako", "makoctl", "dbus-daemon", "dbus-monitor")


@pytest.fixture(scope="module")
def desktop():
    from daemons import user_exists
    from sway import Desktop

    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    require(not missing, f"missing {', '.join(missing)} (make test installs them)")
    require(user_exists(), "user 'vmmtest' is missing (make test creates it)")
    session = Desktop()
    yield session
    session.close()


@pytest.fixture
def wofi_vmm(desktop):
    started = []

    def start(*args, **env):
        desktop.dismiss_all()
        process = desktop.popen([vmm_exe(), "-c", SHARED_URI, *args], **env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            subprocess.run(["pkill", "-P", str(process.pid)], capture_output=True)  # its wofi
            process.kill()
            process.wait()


def leave(desktop, process, levels):
    for _ in range(levels):
        desktop.wait_for_menu()
        desktop.key("Escape")
        time.sleep(0.3)
    assert process.wait(timeout=15) == 0


def test_browse_into_a_folder_and_start_a_vm(desktop, wofi_vmm, shared):
    p = shared.prefix
    vm = shared("wweb", meta=vmm_meta(f"/{p}lab/web"))
    process = wofi_vmm("--menu", "wofi")
    desktop.pick(f"{p}lab")
    desktop.pick("web/")
    desktop.pick("wweb")
    desktop.wait_for_menu()
    ARTIFACTS.mkdir(exist_ok=True)
    desktop.screenshot(ARTIFACTS / "wofi-vm-screen.png")
    desktop.pick("Start")
    desktop.wait_for_notification(f"{vm.name()}: started")
    assert vm.isActive()
    leave(desktop, process, 4)  # the VM screen, /lab/web, /lab, /


def test_save_state_notifies(desktop, wofi_vmm, shared):
    p = shared.prefix
    vm = shared("wsave", meta=vmm_meta(f"/{p}lab"), running=True)
    process = wofi_vmm()  # --menu auto: no terminal, a Wayland session: wofi
    desktop.pick(f"{p}lab")
    desktop.pick("wsave")
    desktop.pick("Save state")
    note = desktop.wait_for_notification("state saved")
    assert note["summary"] == "vmm"
    assert vm.hasManagedSaveImage() and not vm.isActive()
    leave(desktop, process, 3)


def test_a_failing_action_raises_a_critical_notification(desktop, wofi_vmm, shared):
    p = shared.prefix
    vm = shared("wfail", meta=vmm_meta(f"/{p}lab"))
    process = wofi_vmm("--menu", "wofi")
    desktop.pick(f"{p}lab")
    desktop.pick("wfail")
    desktop.wait_for_menu()
    vm.create()  # started behind the picker's back: its Start can only fail
    before = desktop.critical_notifications()
    desktop.pick("Start")
    note = desktop.wait_for_notification("it is running")
    assert note["summary"] == "vmm: error"
    assert desktop.critical_notifications() == before + 1
    leave(desktop, process, 3)


def test_escape_at_the_top_closes_cleanly(desktop, wofi_vmm, shared):
    process = wofi_vmm("--menu", "wofi")
    leave(desktop, process, 1)
    assert not desktop.menu_shown()


def test_hostile_names_display_literally_and_act_on_the_right_vm(desktop, wofi_vmm, shared):
    p = shared.prefix
    folder = f"/{p}<i>x & co"
    markup = shared("<b>bold & co", meta=vmm_meta(folder))
    other = shared("b-old", meta=vmm_meta(folder))
    process = wofi_vmm("--menu", "wofi")
    desktop.pick(p)
    desktop.wait_for_menu()
    ARTIFACTS.mkdir(exist_ok=True)
    desktop.screenshot(ARTIFACTS / "wofi-hostile-names.png")
    desktop.pick("bold")  # wofi searches the raw (escaped) text: '<' and '&' are not in it
    desktop.pick("Start")
    desktop.wait_for_notification("started")
    assert markup.isActive() and not other.isActive()
    leave(desktop, process, 3)


def test_typed_digits_are_a_value_not_a_row_number(desktop, wofi_vmm, shared):
    p = shared.prefix
    vm = shared("wdigit", meta=vmm_meta(f"/{p}lab"))
    shared("wknown", meta=vmm_meta(f"/{p}lab", "alpha", "beta", "gamma"))
    process = wofi_vmm("--menu", "wofi")
    desktop.pick(f"{p}lab")
    desktop.pick("wdigit")
    desktop.pick("Labels")
    desktop.pick("Add label")
    desktop.pick("1")  # no suggested label holds a 1: it was taken as row 1, 'beta'
    desktop.wait_for_notification("labels #1")
    assert Host(vm.connect()).view(vm).labels == ("1",)
    leave(desktop, process, 4)  # the labels screen, the VM screen, /lab, /


def test_typed_digits_that_match_no_row_choose_nothing(desktop, wofi_vmm, shared):
    p = shared.prefix
    vm = shared("wseven", meta=vmm_meta(f"/{p}lab"), running=True)
    process = wofi_vmm("--menu", "wofi")
    desktop.pick(f"{p}lab")
    desktop.pick("wseven")
    desktop.pick("7")  # no action's line holds a 7; the eighth row (Viewer) was taken
    desktop.wait_for_menu()  # the VM's menu again
    time.sleep(1)
    assert desktop.notifications() == [] and vm.isActive()
    leave(desktop, process, 3)


def test_any_dmenu_style_launcher_through_menu_command(desktop, wofi_vmm, shared, tmp_path):
    p = shared.prefix
    vm = shared("wdmenu", meta=vmm_meta(f"/{p}lab"))
    config = tmp_path / "vmm"
    config.mkdir()
    (config / "config.toml").write_text(
        'menu_command = "wofi --dmenu --cache-file=/dev/null --prompt {prompt}"\n'
    )
    process = wofi_vmm("--menu", "dmenu", XDG_CONFIG_HOME=str(tmp_path))
    desktop.pick(f"{p}lab")
    desktop.pick("wdmenu")
    desktop.pick("Start")
    desktop.wait_for_notification(f"{vm.name()}: started")
    assert vm.isActive()
    leave(desktop, process, 3)


def test_connection_failure_is_a_notification_not_a_hang(desktop, wofi_vmm):
    process = desktop.popen([vmm_exe(), "-c", "test:///no/such/node.xml", "--menu", "wofi"])
    assert process.wait(timeout=15) == 1
    desktop.wait_for_notification("cannot connect to test:///no/such/node.xml")


def test_askpass_asks_through_wofi(desktop):
    askpass = Path(vmm_exe()).with_name("vmm-askpass")
    process = desktop.popen([str(askpass), "root@host's password:"])
    desktop.wait_for_menu()
    desktop.type("s3cret $(x)")
    desktop.key("Return")
    out, _ = process.communicate(timeout=15)
    assert process.returncode == 0 and out == "s3cret $(x)\n"


def test_progress_updates_one_notification(desktop):
    import os

    from vmm.ui.notify import Desktop as Notifications

    desktop.dismiss_all()
    notes = Notifications(env={**os.environ, **desktop.env})
    for percent in (0, 40, 100):
        notes.progress("cloning web as web2", percent)
    shown = [n for n in desktop.notifications() if "cloning web" in n["body"]]
    assert shown == [{"summary": "vmm", "body": "cloning web as web2: 100%"}]
