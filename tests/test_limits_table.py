"""The one table of limits (lxpy.config.limits.LIMITS) and what is made from it: the typed
Limits, text as typed, kernel units, warnings; and what must agree with it: each limit's
cgroup files and the man page's list."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxpy.config.limits import DEFAULT_PIDS_MAX, LIMITS, Limits, limits_from_text, warnings
from lxpy.errors import UsageError
from lxpy.linux import cgroups
from lxpy.runtime.limits import kernel_values

MAN_PAGE = Path(__file__).resolve().parent.parent / "man/lxpy.1"


def test_every_limit_has_its_cgroup_files_in_the_same_order() -> None:
    # The order is the one applied: swap after memory.
    assert list(cgroups.LIMITS) == [key for key, limit in LIMITS.items() if not limit.storage]


def test_the_man_page_names_every_limit_as_its_flag() -> None:
    text = MAN_PAGE.read_text()
    for limit in LIMITS.values():
        flag = limit.flag.replace("-", "\\-")
        assert f".TP\n\\fB{flag}\\fR \\fI{limit.metavar}\\fR\n{limit.man}\n" in text, limit.key
        assert f"\\fB{limit.key}\\fR" in text  # among config.toml's [limits] keys


def test_each_limit_has_its_words_for_the_faces() -> None:
    for limit in LIMITS.values():
        assert limit.flag == "--" + limit.key.replace("_", "-")
        assert "default" in limit.help
        assert limit.metavar.isupper() and limit.label and limit.example
        assert limit.from_text(limit.example) is not None  # the example is valid
    assert LIMITS["memory"].placeholder == "memory (e.g. 2G)"


def test_limits_hold_values_as_written_with_the_defaults() -> None:
    limits = Limits(memory="2G", cpus=1.5)
    assert limits.memory == "2G" and limits.cpus == 1.5 and limits.swap is None
    assert limits.pids == DEFAULT_PIDS_MAX
    assert limits.to_dict() == {"pids": DEFAULT_PIDS_MAX, "memory": "2G", "cpus": 1.5}
    assert [key for key, _ in limits.items()] == list(LIMITS)
    assert limits == Limits(cpus=1.5, memory="2G") and limits != Limits()
    assert hash(limits) == hash(Limits(cpus=1.5, memory="2G"))
    assert Limits(pids=None).to_dict() == {}
    with pytest.raises(TypeError, match="no limit named 'colour'"):
        Limits(colour=1)
    with pytest.raises(AttributeError):
        limits.memory = "3G"


def test_limits_in_kernel_units() -> None:
    assert kernel_values(Limits(memory="1G", swap="512M", cpuset="0", io_weight=200)) == {
        "pids": DEFAULT_PIDS_MAX,
        "memory": 2**30,
        "swap": 2**29,
        "cpus": None,
        "cpuset": "0",
        "io_weight": 200,
    }


def test_limits_typed_as_text() -> None:
    def flag(key: str) -> str:
        return LIMITS[key].flag

    typed = {"memory": "2G", "cpus": "1", "pids": "300", "io_weight": "50", "cpuset": "0"}
    assert limits_from_text(typed, flag) == {
        "memory": "2G",
        "cpus": 1,
        "pids": 300,
        "io_weight": 50,
        "cpuset": "0",
    }
    assert limits_from_text({"cpus": "0.5"}, flag) == {"cpus": 0.5}
    for key, text, words in [
        ("memory", "lots", "--memory lots: 'lots' is not a size"),
        ("pids", "many", "--pids many: not a valid value"),
        ("pids", "1.5", "--pids 1.5: not a valid value"),
        ("pids", "-5", "--pids -5: must be a positive number"),
        ("cpus", "0", "--cpus 0: must be between"),
        ("cpuset", "0-999", "--cpuset 0-999: '0-999': this host has CPUs"),
        ("io_weight", "0", "--io-weight 0: must be between 1 and 10000"),
    ]:
        with pytest.raises(UsageError) as caught:
            limits_from_text({key: text}, flag)
        assert str(caught.value).startswith(words), caught.value


def test_a_memory_limit_above_the_host_memory_is_a_warning() -> None:
    said = warnings({"memory": "1024T", "pids": 10})
    assert len(said) == 1 and said[0].startswith("limits.memory 1024T: more than this host's")
    assert warnings({"memory": "1M", "cpus": 1, "swap": "1024T"}) == []
    assert warnings({"memory": "lots"}) == []  # invalid: that is an error, not a warning
