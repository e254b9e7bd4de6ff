"""A headless Sway desktop for the wofi tier, run the way a person's session runs.

Sway refuses root, so it runs as the unprivileged user 'vmmtest'; everything else (a private
D-Bus session with mako, vmm, wofi, wtype, grim) runs as root and talks to Sway's socket.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

USER = "vmmtest"
SWAY_CONFIG = "output HEADLESS-1 resolution 1280x720\ndefault_border none\n"
BACKGROUND = (63, 63, 63)  # an empty headless output, as grim sees it
MENU_PIXEL = "640,420"  # inside wofi's window, clear of the notifications


class Desktop:
    def __init__(self) -> None:
        import pwd

        self.home = Path(tempfile.mkdtemp(prefix="vmm-sway-"))
        self.home.chmod(0o755)
        self.user_runtime = self.home / "user-xdg"
        self.user_runtime.mkdir(mode=0o700)
        user = pwd.getpwnam(USER)
        os.chown(self.user_runtime, user.pw_uid, user.pw_gid)
        self.runtime = self.home / "root-xdg"
        self.runtime.mkdir(mode=0o700)
        config = self.home / "sway.conf"
        config.write_text(SWAY_CONFIG)
        config.chmod(0o644)
        self.processes: list[subprocess.Popen] = []
        sway_env = {
            "XDG_RUNTIME_DIR": str(self.user_runtime),
            "WLR_BACKENDS": "headless",
            "WLR_LIBINPUT_NO_DEVICES": "1",
            "WLR_RENDERER": "pixman",
        }
        env_args = [f"{k}={v}" for k, v in sway_env.items()]
        self._spawn(["runuser", "-u", USER, "--", "env", *env_args, "sway", "-c", str(config)])
        self._wait(lambda: (self.user_runtime / "wayland-1").exists(), "sway")
        self.env = {
            "XDG_RUNTIME_DIR": str(self.runtime),
            "WAYLAND_DISPLAY": str(self.user_runtime / "wayland-1"),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.runtime}/bus",
            "XDG_STATE_HOME": str(self.home / "state"),
            "HOME": str(self.home),
        }
        self._spawn(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                f"--address={self.env['DBUS_SESSION_BUS_ADDRESS']}",
            ]
        )
        self._wait(lambda: (self.runtime / "bus").exists(), "dbus-daemon")
        self._spawn(["mako"])
        self.monitor_log = self.home / "notify-calls.log"
        self._spawn(
            [
                "dbus-monitor",
                "--session",
                "interface='org.freedesktop.Notifications',member='Notify'",
            ],
            stdout=self.monitor_log,
        )
        self._wait(lambda: self.run(["makoctl", "list"]).returncode == 0, "mako")

    def _spawn(self, argv: list[str], stdout: Path | None = None) -> None:
        out = open(stdout, "w") if stdout else subprocess.DEVNULL  # noqa: SIM115 (kept for the process)
        env = {**os.environ, **getattr(self, "env", {})}
        self.processes.append(
            subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.DEVNULL, start_new_session=True
            )
        )

    def _wait(self, ready, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not start")

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, env={**os.environ, **self.env}, capture_output=True, text=True, **kwargs
        )

    def popen(self, argv: list[str], **extra_env: str) -> subprocess.Popen:
        env = {**os.environ, **self.env, **extra_env}
        for var in ("TERM", "TMUX"):
            env.pop(var, None)
        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # -- what a person sees and does ---------------------------------------------------------

    def pixel(self, where: str = MENU_PIXEL) -> tuple[int, ...]:
        shot = subprocess.run(
            ["grim", "-g", f"{where} 1x1", "-t", "ppm", "-"],
            env={**os.environ, **self.env},
            capture_output=True,
        )
        return tuple(shot.stdout[-3:])

    def menu_shown(self) -> bool:
        return self.pixel() != BACKGROUND

    def wait_for_menu(self, timeout: float = 15) -> None:
        self._wait(self.menu_shown, "a wofi menu", timeout)
        time.sleep(0.3)  # wofi takes keys once it has drawn its rows

    def wait_for_no_menu(self, timeout: float = 15) -> None:
        self._wait(lambda: not self.menu_shown(), "the menu to close", timeout)

    def type(self, text: str) -> None:
        # each wtype is a new virtual keyboard whose first key is lost: spend it on Shift
        self.run(["wtype", "-k", "Shift_L", "-s", "100", text])

    def key(self, name: str, *modifiers: str) -> None:
        argv = ["wtype", "-k", "Shift_L", "-s", "100"]
        for modifier in modifiers:
            argv += ["-M", modifier]
        argv += ["-k", name]
        for modifier in modifiers:
            argv += ["-m", modifier]
        self.run(argv)

    def pick(self, text: str) -> None:
        """With a menu on screen, type `text` and press Enter, then wait for it to close."""
        self.wait_for_menu()
        self.type(text)
        time.sleep(0.3)
        self.key("Return")
        self.wait_for_no_menu()

    def screenshot(self, path: Path) -> None:
        self.run(["grim", str(path)], check=True)

    def notifications(self) -> list[dict[str, str]]:
        listed = json.loads(self.run(["makoctl", "list"]).stdout)["data"][0]
        return [{"summary": n["summary"]["data"], "body": n["body"]["data"]} for n in listed]

    def wait_for_notification(self, text: str, timeout: float = 15) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for note in self.notifications():
                if text in note["body"] or text in note["summary"]:
                    return note
            time.sleep(0.1)
        raise AssertionError(f"no notification with {text!r}: {self.notifications()}")

    def critical_notifications(self) -> int:
        """How many Notify calls carried urgency 2 (critical), as seen on the bus."""
        log = self.monitor_log.read_text()
        return log.count('string "urgency"\n         variant             byte 2')

    def dismiss_all(self) -> None:
        self.run(["makoctl", "dismiss", "--all"])

    def close(self) -> None:
        subprocess.run(["pkill", "-f", "wofi --dmenu"], capture_output=True)
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)
