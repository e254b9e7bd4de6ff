"""Private libvirt daemons: each is a separate host, run in session mode by an unprivileged user.

Killing one is how a test makes libvirtd go away in the middle of vmm's work.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import libvirt

USER = "vmmtest"


def user_exists(user: str = USER) -> bool:
    import pwd

    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


class PrivateDaemon:
    def __init__(self, user: str = USER) -> None:
        import pwd

        self.user = user
        self.runtime = Path(tempfile.mkdtemp(prefix=f"{user}-xdg-"))
        entry = pwd.getpwnam(user)
        os.chown(self.runtime, entry.pw_uid, entry.pw_gid)
        self.runtime.chmod(0o700)
        self.socket = self.runtime / "libvirt" / "libvirt-sock"
        self.start()

    def start(self) -> None:
        user = self.user
        self.process = subprocess.Popen(
            # the tests' own XDG directories are root's: the daemon keeps its user's
            [
                "runuser",
                "-u",
                user,
                "--",
                "env",
                "-u",
                "XDG_STATE_HOME",
                "-u",
                "XDG_CACHE_HOME",
                f"XDG_RUNTIME_DIR={self.runtime}",
                "libvirtd",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_for_socket()

    @property
    def uri(self) -> str:
        return f"test+unix:///default?socket={self.socket}"

    def _wait_for_socket(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.socket.exists():
                try:
                    libvirt.open(self.uri).close()
                    return
                except libvirt.libvirtError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("private libvirtd did not start")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Killed and started again on the same socket: a client's connection is cut, and a
        new one finds a daemon that knows nothing of the old one's test node."""
        self.kill()
        self.socket.unlink(missing_ok=True)
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.runtime, ignore_errors=True)
