"""The block lxpy keeps in the host's /etc/hosts, on files of the test's own: what is added,
replaced and removed, and everything else left as it was, byte for byte."""

from __future__ import annotations

import ipaddress
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lxpy.errors import LxpyError
from lxpy.net.hostsfile import HostsFile, best_effort, without_other_roots

ORIGINAL = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# the admin's comment\n"
ROOT = "lxpy-0000abcd"  # a state root's instance id


@pytest.fixture
def hosts(tmp_path: Path) -> HostsFile:
    (tmp_path / "hosts").write_text(ORIGINAL)
    return HostsFile(str(tmp_path / "hosts"), str(tmp_path / "hosts.lock"))


def text(hosts: HostsFile) -> str:
    return Path(hosts.path).read_text()


def test_names_are_added_replaced_and_removed_to_the_byte(hosts: HostsFile) -> None:
    hosts.name(ROOT, "dev", [("10.42.0.7", "dev.lxpy"), ("10.43.0.7", "dev.lab")])
    hosts.name(ROOT, "db", [("10.42.0.9", "db.lxpy")])
    assert text(hosts) == ORIGINAL + (
        f"# BEGIN lxpy {ROOT}\n10.42.0.7 dev.lxpy\n10.43.0.7 dev.lab\n10.42.0.9 db.lxpy\n"
        f"# END lxpy {ROOT}\n"
    )
    hosts.name(ROOT, "dev", [("10.42.0.8", "dev.lxpy")])  # a start after a change of address
    assert f"10.42.0.9 db.lxpy\n10.42.0.8 dev.lxpy\n# END lxpy {ROOT}\n" in text(hosts)
    assert "10.42.0.7" not in text(hosts) and "dev.lab" not in text(hosts)
    hosts.forget(ROOT, "dev")
    hosts.forget(ROOT, "dev")  # a second stop finds nothing to do
    hosts.forget(ROOT, "db")
    assert Path(hosts.path).read_bytes() == ORIGINAL.encode()


def test_a_name_that_is_a_prefix_of_another_is_its_own(hosts: HostsFile) -> None:
    hosts.name(ROOT, "web", [("10.42.0.2", "web.lxpy")])
    hosts.name(ROOT, "web2", [("10.42.0.3", "web2.lxpy")])
    hosts.forget(ROOT, "web")
    assert "web2.lxpy" in text(hosts) and "web.lxpy" not in text(hosts)


def test_lines_someone_else_changed_in_between_are_kept(hosts: HostsFile) -> None:
    hosts.name(ROOT, "dev", [("10.42.0.7", "dev.lxpy")])
    # Between two of our writes, the admin edits a line above and adds one below the block.
    changed = text(hosts).replace("# the admin's comment", "192.168.1.5 nas") + "10.9.9.9 vpn\n"
    Path(hosts.path).write_text(changed)
    hosts.name(ROOT, "db", [("10.42.0.9", "db.lxpy")])
    hosts.forget(ROOT, "dev")
    hosts.forget(ROOT, "db")
    assert text(hosts) == ORIGINAL.replace("# the admin's comment", "192.168.1.5 nas") + (
        "10.9.9.9 vpn\n"
    )


def test_a_symlinked_hosts_file_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "etc-real" / "hosts"
    real.parent.mkdir()
    real.write_text(ORIGINAL)
    os.chmod(real, 0o640)
    os.chown(real, 1234, 5678)
    link = tmp_path / "hosts"
    link.symlink_to("etc-real/hosts")  # relative, as /etc/hosts -> ../run/hosts may be
    hosts = HostsFile(str(link), str(tmp_path / "hosts.lock"))
    hosts.name(ROOT, "dev", [("10.42.0.7", "dev.lxpy")])
    assert link.is_symlink() and os.readlink(link) == "etc-real/hosts"
    assert "10.42.0.7 dev.lxpy" in real.read_text()
    st = real.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 5678)
    assert sorted(os.listdir(real.parent)) == ["hosts"]  # no temp file left
    hosts.forget(ROOT, "dev")
    assert real.read_text() == ORIGINAL and link.is_symlink()


def test_state_roots_keep_to_their_own_blocks(hosts: HostsFile) -> None:
    other = "lxpy"  # the real install's
    hosts.name(other, "dev", [("10.0.3.5", "dev.lxpy")])
    hosts.name(ROOT, "dev", [("10.42.0.7", "dev.lxpy")])
    hosts.forget(ROOT, "dev")
    assert text(hosts) == ORIGINAL + "# BEGIN lxpy lxpy\n10.0.3.5 dev.lxpy\n# END lxpy lxpy\n"


def test_a_file_without_a_last_newline_comes_back_as_it_was(hosts: HostsFile) -> None:
    Path(hosts.path).write_text(ORIGINAL.rstrip("\n"))
    hosts.forget(ROOT, "dev")  # nothing of ours: not even a newline is added
    assert text(hosts) == ORIGINAL.rstrip("\n")
    hosts.name(ROOT, "dev", [("10.42.0.7", "dev.lxpy")])
    assert text(hosts).startswith(ORIGINAL + f"# BEGIN lxpy {ROOT}\n")


def test_a_missing_file_is_made_and_an_end_cut_away_is_mended(tmp_path: Path) -> None:
    hosts = HostsFile(str(tmp_path / "hosts"), str(tmp_path / "hosts.lock"))
    hosts.name(ROOT, "dev", [("10.42.0.7", "dev.lxpy")])
    assert (Path(hosts.path).stat().st_mode & 0o7777) == 0o644
    # Someone deleted our END line; the block ends at the first line not shaped like ours.
    cut = text(hosts).replace(f"# END lxpy {ROOT}\n", "") + "10.9.9.9 vpn.example vpn\n"
    Path(hosts.path).write_text("127.0.0.1 localhost\n" + cut)
    hosts.forget(ROOT, "dev")
    assert text(hosts) == "127.0.0.1 localhost\n10.9.9.9 vpn.example vpn\n"


def test_a_networks_lines_go_with_it(hosts: HostsFile) -> None:
    hosts.name(ROOT, "a", [("10.42.0.7", "a.lxpy"), ("10.43.0.7", "a.lab")])
    hosts.name(ROOT, "b", [("10.42.0.8", "b.lxpy")])
    net = ipaddress.IPv4Network("10.42.0.0/24")
    hosts.forget_addresses(ROOT, lambda address: ipaddress.IPv4Address(address) in net)
    assert text(hosts) == ORIGINAL + f"# BEGIN lxpy {ROOT}\n10.43.0.7 a.lab\n# END lxpy {ROOT}\n"


@pytest.mark.parametrize(
    ("address", "fqdn"),
    [
        ("10.42.0.7\n1.2.3.4", "dev.lxpy"),  # a second line
        ("10.42.0.7", "dev.lxpy\n1.2.3.4 bank.example"),
        ("10.42.0.7", "dev.lxpy bank.example"),  # a second name
        ("10.42.0.7", "dev.lxpy#"),
        ("10.42.0.7", "dev"),  # no domain
        ("10.42.0.7", "other.lxpy"),  # someone else's name
        ("10.42.0.07", "dev.lxpy"),
        ("10.42.0.256", "dev.lxpy"),
        ("::1", "dev.lxpy"),
        ("", "dev.lxpy"),
    ],
)
def test_nothing_but_an_address_and_the_containers_name_goes_in(
    hosts: HostsFile, address: str, fqdn: str
) -> None:
    with pytest.raises(LxpyError):
        hosts.name(ROOT, "dev", [(address, fqdn)])
    assert text(hosts) == ORIGINAL


def test_concurrent_writers_lose_no_line(hosts: HostsFile) -> None:
    # Many writers at once, each from its own HostsFile (a command, a monitor's teardown):
    # each read-change-write is whole under the lock, so every name lands.
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for i in range(5):
            mine = HostsFile(hosts.path, hosts.lock)
            mine.name(ROOT, f"c{n}x{i}", [(f"10.42.{n}.{i + 2}", f"c{n}x{i}.lxpy")])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    lines = text(hosts).splitlines()
    assert sorted(line for line in lines if line.endswith(".lxpy")) == sorted(
        f"10.42.{n}.{i + 2} c{n}x{i}.lxpy" for n in range(8) for i in range(5)
    )
    assert lines.count(f"# BEGIN lxpy {ROOT}") == 1


def test_a_hosts_file_lxpy_cannot_write_costs_a_warning_not_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unwritable = HostsFile(str(tmp_path / "missing-dir" / "hosts"), str(tmp_path / "lock"))
    with pytest.raises(LxpyError):
        unwritable.name("inst", "web", [("10.0.0.2", "web.lxpy")])
    with best_effort("web"):
        unwritable.name("inst", "web", [("10.0.0.2", "web.lxpy")])
    assert capsys.readouterr().err.startswith(
        "lxpy: warning: web: names on the host: cannot update"
    )


def test_other_roots_blocks_are_left_out_for_comparisons() -> None:
    text = (
        "127.0.0.1 localhost\n"
        "# BEGIN lxpy lxpy-aaaa\n10.0.0.2 a.lxpy\n# END lxpy lxpy-aaaa\n"
        "# BEGIN lxpy lxpy-bbbb\n10.0.0.3 b.lxpy\n# END lxpy lxpy-bbbb\n"
        "::1 localhost\n"
    )
    mine = without_other_roots(text, "lxpy-aaaa")
    assert mine == (
        "127.0.0.1 localhost\n"
        "# BEGIN lxpy lxpy-aaaa\n10.0.0.2 a.lxpy\n# END lxpy lxpy-aaaa\n"
        "::1 localhost\n"
    )
    assert without_other_roots(text) == "127.0.0.1 localhost\n::1 localhost\n"
