"""Private libvirt daemons: each is a separate host, run in session mode by an unprivileged user.

Killing one is how a test makes libvirtd go away in the middle of vmm's work.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import libvirt
from lxml import etree

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
        import uuid

        self.user = user
        self.runtime = Path(tempfile.mkdtemp(prefix=f"{user}-xdg-"))
        entry = pwd.getpwnam(user)
        os.chown(self.runtime, entry.pw_uid, entry.pw_gid)
        self.runtime.chmod(0o700)
        self.socket = self.runtime / "libvirt" / "libvirt-sock"
        # short: QEMU's sockets live below it, and a unix socket's path has at most 107 bytes
        self.config_home = Path(tempfile.mkdtemp(prefix="vc-"))
        os.chown(self.config_home, entry.pw_uid, entry.pw_gid)
        # a host of its own: libvirt refuses to migrate a VM to a host with its own host UUID
        self.config = self.runtime / "libvirtd.conf"
        self.config.write_text(f'host_uuid = "{uuid.uuid4()}"\n')
        os.chown(self.config, entry.pw_uid, entry.pw_gid)
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
                f"XDG_CONFIG_HOME={self.config_home}",  # its VMs and networks: its own
                "libvirtd",
                "-f",
                str(self.config),
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
        shutil.rmtree(self.config_home, ignore_errors=True)


class QemuSessionHost:
    """A second QEMU host: vmmtest's libvirtd (qemu:///session), with a scratch pool named
    "moved" that vmmtest owns; what it holds is removed with it."""

    def __init__(self) -> None:
        self.daemon = PrivateDaemon()
        self.uri = f"qemu+unix:///session?socket={self.daemon.socket}"
        self.dir = Path(tempfile.mkdtemp(prefix="vmm-move-", dir="/var/tmp"))
        entry = pwd.getpwnam(self.daemon.user)
        os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._open()

    def _open(self) -> None:
        self.conn = libvirt.open(self.uri)
        if "moved" in self.conn.listStoragePools():  # a restarted daemon keeps its active pools
            self.pool = self.conn.storagePoolLookupByName("moved")
            return
        root = etree.Element("pool", type="dir")
        etree.SubElement(root, "name").text = "moved"
        etree.SubElement(etree.SubElement(root, "target"), "path").text = str(self.dir)
        self.pool = self.conn.storagePoolCreateXML(etree.tostring(root, encoding="unicode"), 0)

    def restart(self) -> None:
        """The daemon killed (what was under way there cut off) and started again, its pool
        made again over the same directory: the host after a crash."""
        self.daemon.kill()
        self.daemon.socket.unlink(missing_ok=True)
        self.daemon.start()
        self._open()

    def files(self) -> set[str]:
        self.pool.refresh(0)
        return set(self.pool.listVolumes())

    def names(self) -> list[str]:
        return [dom.name() for dom in self.conn.listAllDomains(0)]

    def close(self) -> None:
        for dom in self.conn.listAllDomains(0):
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        for network in self.conn.listAllNetworks(0):
            network.undefine()
        self.conn.close()
        self.daemon.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
