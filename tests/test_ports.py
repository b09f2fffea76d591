"""Port forward specs on their own: what `port add`, `create --port` and config.toml's
`ports` accept, what each means, and the one-line reason for what they refuse. The relay is
tested in test_proxy.py, forwards to real containers in test_network.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxpy import config
from lxpy.config.model import PortForward, User, clash
from lxpy.errors import ConfigError
from tests.test_config import GOOD


@pytest.mark.parametrize(
    ("text", "address", "key", "saved"),
    [
        ("8080:80", "0.0.0.0", "0.0.0.0:8080/tcp", "8080:80/tcp"),
        (" 5353:53/udp ", "0.0.0.0", "0.0.0.0:5353/udp", "5353:53/udp"),
        ("127.0.0.1:8080:80", "127.0.0.1", "127.0.0.1:8080/tcp", "127.0.0.1:8080:80/tcp"),
        ("0.0.0.0:1:65535/udp", "0.0.0.0", "0.0.0.0:1/udp", "1:65535/udp"),
        ("[::1]:8080:80", "::1", "[::1]:8080/tcp", "[::1]:8080:80/tcp"),
        ("[::]:8080:80/udp", "::", "[::]:8080/udp", "[::]:8080:80/udp"),
        ("[0:0:0::0:1]:8080:80", "::1", "[::1]:8080/tcp", "[::1]:8080:80/tcp"),
        ("[2001:DB8::7]:443:8443", "2001:db8::7", "[2001:db8::7]:443/tcp", None),
    ],
)
def test_a_spec_reads_as_its_address_port_and_protocol(
    text: str, address: str, key: str, saved: str | None
) -> None:
    forward = PortForward.parse(text)
    assert forward.address == address
    assert forward.key == key
    assert forward.saved == (saved or str(forward))
    # What config.toml keeps reads back as the same forward.
    assert PortForward.parse(forward.saved) == forward


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("8080", "expected [ADDR:]HOSTPORT:PORT[/tcp|/udp]"),
        ("0:80", "ports 1-65535"),
        ("8080:65536", "ports 1-65535"),
        ("8080:80/sctp", "expected"),
        ("::1:8080:80", "IPv6 in brackets"),
        ("[::1]8080:80", "expected"),
        ("localhost:8080:80", "'localhost' is not an IPv4 address"),
        ("127.0.0.01:8080:80", "is not an IPv4 address"),
        ("1.2.3.256:8080:80", "is not an IPv4 address"),
        (":8080:80", "'' is not an IPv4 address"),
        ("[127.0.0.1]:8080:80", "[127.0.0.1] is not an IPv6 address"),
        ("[::ffff:127.0.0.1]:8080:80", "is IPv4: write 127.0.0.1"),
        ("[fe80::1%eth0]:8080:80", "has a scope"),
        ("224.0.0.1:8080:80", "multicast"),
        ("[ff02::1]:8080:80", "multicast"),
    ],
)
def test_a_bad_spec_is_refused_with_its_reason(text: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        PortForward.parse(text)
    message = str(caught.value)
    assert message.startswith(repr(text)) and words in message, message
    assert "\n" not in message


def test_forwards_clash_as_the_kernel_would_refuse_them() -> None:
    every, loop, other = (PortForward.parse(f"{a}8080:80") for a in ("", "127.0.0.1:", "10.9.9.9:"))
    every6, loop6 = PortForward.parse("[::]:8080:80"), PortForward.parse("[::1]:8080:80")
    assert clash([loop], other) is None  # two addresses: two listeners
    assert clash([every], every6) is None  # [::] is IPv6 alone (IPV6_V6ONLY)
    assert clash([every], PortForward.parse("8080:80/udp")) is None
    assert clash([every], PortForward.parse("8081:80")) is None
    assert clash([every, loop6], PortForward.parse("[::1]:8081:80")) is None
    assert clash([loop], loop) == "host port 127.0.0.1:8080/tcp is forwarded already"
    assert (
        clash([every], loop)
        == "host port 127.0.0.1:8080/tcp overlaps 0.0.0.0:8080/tcp, forwarded already"
    )
    assert clash([loop], every) is not None
    assert clash([every6], loop6) is not None


def test_a_new_forward_stays_on_loopback_in_a_dev_box() -> None:
    plain = config.parse("x", GOOD)
    dev = plain.with_changes(user=User("alice"))
    assert not plain.dev_box and dev.dev_box
    assert plain.new_forward("8080:80").address == "0.0.0.0"
    assert dev.new_forward("8080:80").address == "127.0.0.1"
    # An address given is kept, in a dev box too.
    assert dev.new_forward("0.0.0.0:8080:80").address == "0.0.0.0"
    assert dev.new_forward("[::]:8080:80").address == "::"


def test_config_ports_without_an_address_stay_on_every_address(tmp_path: Path) -> None:
    # A dev box's old forward keeps the exposure it had: the loopback default is for new ones.
    ports = 'ports = ["8080:80/tcp", "127.0.0.1:9090:90/udp", "[::1]:8080:80"]'
    cfg = config.parse("x", GOOD.replace("[init]", f'{ports}\n[user]\nname = "a"\n[init]'))
    assert cfg.dev_box
    assert [p.address for p in cfg.ports] == ["0.0.0.0", "127.0.0.1", "::1"]
    path = tmp_path / "config.toml"
    config.save(str(path), cfg)
    assert '"8080:80/tcp"' in path.read_text()  # written as it was read
    assert config.load(str(path)).ports == cfg.ports


@pytest.mark.parametrize(
    ("ports", "words"),
    [
        ('["8080:80", "127.0.0.1:8080:80"]', "overlaps 0.0.0.0:8080/tcp"),
        ('["[::1]:53:53/udp", "[::]:53:53/udp"]', "overlaps [::1]:53/udp"),
        ('["8080:80/tcp", "8080:81"]', "0.0.0.0:8080/tcp is forwarded already"),
        ('["localhost:8080:80"]', "is not an IPv4 address"),
        ("[8080]", "expected strings"),
    ],
)
def test_config_ports_are_read_strictly(ports: str, words: str) -> None:
    text = GOOD.replace("[init]", f"ports = {ports}\n\n[init]")
    with pytest.raises(ConfigError) as caught:
        config.parse("/x/config.toml", text)
    assert "ports" in str(caught.value) and words in str(caught.value), caught.value
