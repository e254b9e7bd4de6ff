"""Running a command in the guest through the QEMU guest agent (guest-exec, guest-exec-status).

No network is needed: libvirt talks to the agent over the VM's virtio-serial channel. The
command is an argument list (the agent runs it without a shell), its output comes back whole
once it has ended (the agent keeps up to 16 MiB of each stream).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import libvirt
import libvirt_qemu

from vmm.model.errors import HostError, Interrupted, InvalidState
from vmm.virt.errors import message, translate
from vmm.virt.vm import Vm

CALL_SECONDS = 10  # one agent call: the agent answers at once, or it is not there


@dataclass(frozen=True)
class Finished:
    status: int  # the command's exit status; 128 + N when signal N ended it
    stdout: bytes
    stderr: bytes
    truncated: bool = False  # the agent dropped output past its limit


def _call(vm: Vm, name: str, command: str, **arguments: object) -> dict:
    request = json.dumps({"execute": command, "arguments": arguments})
    try:
        answer = libvirt_qemu.qemuAgentCommand(vm.dom, request, CALL_SECONDS, 0)
    except libvirt.libvirtError as err:
        raise _agent_error(err, name, command) from None
    return json.loads(answer).get("return") or {}


def _agent_error(err: libvirt.libvirtError, name: str, command: str) -> Exception:
    """libvirt's error for an agent call, in words that say what is missing."""
    code, said = err.get_error_code(), message(err)
    if code == libvirt.VIR_ERR_NO_SUPPORT:
        return HostError(f"{name!r}: this host's driver has no guest agent ({said})")
    if code == libvirt.VIR_ERR_AGENT_UNRESPONSIVE:
        return HostError(
            f"{name!r}: the guest agent is not connected (is qemu-guest-agent installed and"
            " running in the guest? it connects some seconds into the boot)"
        )
    if code == libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED or "not configured" in said:
        return HostError(
            f"{name!r} has no guest agent channel (org.qemu.guest_agent.0) in its definition"
        )
    if code == libvirt.VIR_ERR_OPERATION_INVALID and "not running" in said:
        return InvalidState(f"{name!r} is not running: start it first")
    marker = f"'{command}': "
    if marker in said:  # the agent's own words: "Failed to execute child process ..."
        return HostError(f"{name!r}: the guest agent says: {said.split(marker, 1)[1]}")
    return translate(err)


def run(vm: Vm, argv: list[str], timeout: float) -> Finished:
    """Run `argv` in the guest and wait for it (`timeout` seconds at most)."""
    name = vm.name
    if not argv:
        raise InvalidState("no command to run")
    try:
        active = vm.dom.isActive()
    except libvirt.libvirtError as err:
        raise translate(err) from None
    if not active:
        raise InvalidState(f"{name!r} is not running: start it first")
    started = _call(vm, name, "guest-exec", path=argv[0], arg=argv[1:], **{"capture-output": True})
    pid = started.get("pid")
    if not isinstance(pid, int):
        raise HostError(f"{name!r}: the guest agent did not say which process it started")
    shown = " ".join(argv)
    deadline, pause = time.monotonic() + timeout, 0.02
    try:
        while True:
            status = _call(vm, name, "guest-exec-status", pid=pid)
            if status.get("exited"):
                return _finished(status)
            if time.monotonic() >= deadline:
                raise HostError(
                    f"{name!r}: {shown!r} still runs in the guest after {timeout:g} s"
                    f" (process {pid}; vmm stopped waiting, it goes on)"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while waiting for {shown!r} in {name!r}: it goes on in the guest"
            f" (process {pid})"
        ) from None


def _finished(status: dict) -> Finished:
    def data(key: str) -> bytes:
        return base64.b64decode(status.get(key) or "")

    code = status.get("exitcode")
    signal = status.get("signal")
    if not isinstance(code, int):
        code = 128 + signal if isinstance(signal, int) else 1
    truncated = bool(status.get("out-truncated") or status.get("err-truncated"))
    return Finished(code, data("out-data"), data("err-data"), truncated)
