"""Connections and libvirt errors: what a user sees when a host is wrong or goes away."""

import pytest
from click.testing import CliRunner

from vmm.model.errors import ConnectionFailed
from vmm.ui.cli import Session, cli
from vmm.virt.host import Host


def test_libvirtd_going_away_in_the_middle_is_a_clear_error(private_daemon):
    host = Host.open(private_daemon.uri)
    assert [d.name for d in host.domains()] == ["test"]
    private_daemon.kill()
    with pytest.raises(ConnectionFailed, match="lost the connection to libvirt"):
        host.domains()
    result = CliRunner().invoke(cli, ["start", "test"], obj=Session.borrowing(host))
    assert result.exit_code == 1
    assert result.stderr.startswith("vmm: error: ") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_real_process_against_a_dead_socket(private_daemon):
    from conftest import run_vmm

    uri = private_daemon.uri
    private_daemon.kill()
    result = run_vmm("-c", uri, "ls")
    assert result.returncode == 1 and result.stderr.startswith(
        f"vmm: error: cannot connect to {uri}"
    )
