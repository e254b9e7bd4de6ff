"""A second host reached over ssh, on this machine: a private sshd on a spare port of
127.0.0.1, root let in with a throwaway key only (its own authorized_keys file, no password).

`qemu+ssh://root@127.0.0.1:PORT/system?keyfile=KEY&no_verify=1` then reaches this machine's
libvirtd as a remote host would be reached, and 127.0.0.1:PORT is the host `vmm ssh` jumps
through. Started and stopped by the fixture that uses it (with CI=true nothing may be skipped).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing() -> str:
    """Why no sshd can be started here ('' when one can)."""
    if not os.path.exists(SSHD):
        return "openssh-server is not installed (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "the jump host logs in as root: run the tests as root"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is missing (openssh-client)"
    return ""


class JumpHost:
    def __init__(self, where: Path) -> None:
        self.dir = where
        self.port = spare_port()
        self.key = where / "id_jump"
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-C", "vmm-jump", "-f", str(self.key)], check=True)
        subprocess.run([*keygen, "-f", str(where / "host_key")], check=True)
        (where / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        config = where / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {where / 'host_key'}\n"
            f"PidFile {where / 'sshd.pid'}\nAuthorizedKeysFile {where / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "AllowTcpForwarding yes\nLogLevel DEBUG1\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        self.log = where / "sshd.log"
        self.known_hosts = Path(os.path.expanduser("~root/.ssh/known_hosts"))
        self._had = {p.name for p in self.known_hosts.parent.glob("known_hosts*")}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log
            )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"sshd ended: {self.log.read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise AssertionError(f"sshd does not listen on {self.port}: {self.log.read_text()}")

    @property
    def spec(self) -> str:
        return f"root@127.0.0.1:{self.port}"

    def uri(self, driver: str = "qemu", path: str = "system") -> str:
        return f"{driver}+ssh://{self.spec}/{path}?keyfile={self.key}&no_verify=1"

    def client_config(self, guest_key: Path | None = None) -> Path:
        """An ssh config (`-F FILE` after `--`) that lets ssh into the jump host with its key
        and keeps the real user's known_hosts out of it (ssh hands -F to its jump too)."""
        path = self.dir / "ssh_config"
        keys = "".join(f"IdentityFile {k}\n" for k in (self.key, guest_key) if k)
        path.write_text(
            f"Host *\n{keys}IdentitiesOnly yes\nBatchMode yes\nStrictHostKeyChecking no\n"
            "UserKnownHostsFile /dev/null\nLogLevel ERROR\n"
        )
        return path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        # libvirt's own ssh (no_verify=1) wrote the jump host's key into root's known_hosts
        if self.known_hosts.exists():
            forget = ["ssh-keygen", "-q", "-R", f"[127.0.0.1]:{self.port}"]
            subprocess.run([*forget, "-f", str(self.known_hosts)], capture_output=True)
            if "known_hosts.old" not in self._had:
                self.known_hosts.with_name("known_hosts.old").unlink(missing_ok=True)
            if "known_hosts" not in self._had and not self.known_hosts.read_text().strip():
                self.known_hosts.unlink()
