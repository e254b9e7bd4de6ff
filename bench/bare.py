"""The floor for listing several hosts: the least a libvirt-python client can do to read every
VM's definition. It opens the hosts at once and asks each VM's XML with `calls` in flight per
host, and parses and prints nothing; vmm does all of that and more.

Run: python -m bench.bare CALLS URI [URI...]
"""

from __future__ import annotations

import sys
import threading

import libvirt


def read_host(uri: str, calls: int, out: list[str]) -> None:
    conn = libvirt.open(uri)
    doms = iter(conn.listAllDomains())
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                dom = next(doms, None)
            if dom is None:
                return
            out.append(dom.XMLDesc(0))

    threads = [threading.Thread(target=work) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main(argv: list[str]) -> None:
    calls, uris = int(argv[0]), argv[1:]
    out: list[str] = []
    hosts = [threading.Thread(target=read_host, args=(uri, calls, out)) for uri in uris]
    for host in hosts:
        host.start()
    for host in hosts:
        host.join()
    if not out:
        raise SystemExit("no definitions read")


if __name__ == "__main__":
    main(sys.argv[1:])
