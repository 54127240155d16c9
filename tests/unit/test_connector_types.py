"""``ConnectorProperties.from_dict`` checks the types of the keys the library reads
and keeps everything else os-brick reports untouched."""

from __future__ import annotations

from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.drivers.types import ConnectorProperties


def test_real_os_brick_properties_pass_and_round_trip() -> None:
    props = volumelib.get_connector_properties()
    assert isinstance(props, dict) and "platform" in props and "multipath" in props
    parsed = ConnectorProperties.from_dict(props)
    assert parsed.to_dict() == {"attach_mode": "rw",
                                **{k: v for k, v in props.items() if v is not None}}


def test_os_brick_shapes_with_every_key() -> None:
    """What os-brick returns on hosts with iSCSI, FC and NVMe (keys the library does
    not read keep whatever type they have)."""
    props = {"platform": "x86_64", "os_type": "linux", "host": "node-1",
             "multipath": True, "enforce_multipath": False, "initiator": "iqn.1994-05.x:y",
             "do_local_attach": False, "uuid": "0b1a", "nqn": "nqn.2014-08.x:uuid:1",
             "nvme_hostid": "2e0e", "nvme_native_multipath": True, "found_dsc": "",
             "system uuid": "abc", "wwpns": ["5001"], "wwnns": ["5002"],
             "host_ips": ["10.0.0.5"], "ip": None}
    parsed = ConnectorProperties.from_dict(props)
    assert parsed.ip is None and parsed.multipath is True
    assert parsed.extra["wwpns"] == ["5001"] and parsed.extra["found_dsc"] == ""


@pytest.mark.parametrize("key,value", [
    ("host", 5), ("host", b"h"), ("ip", ["10.0.0.1"]), ("initiator", ["x"]),
    ("platform", 64), ("os_type", {"linux": 1}), ("attach_mode", 1),
    ("multipath", "maybe"), ("multipath", 1), ("multipath", "true"),
    ("do_local_attach", "no"), ("do_local_attach", 0)])
def test_wrong_types_refused(key: str, value: Any) -> None:
    with pytest.raises(exc.InvalidArgument) as info:
        ConnectorProperties.from_dict({"host": "h", key: value})
    assert repr(key) in str(info.value) and repr(value) in str(info.value)


# -- a connector names its host (issue 15, finding 3) ------------------------------------

@pytest.mark.parametrize("given", [
    {}, {"ip": "10.0.0.5", "initiator": "iqn.1994-05.x:y"}, {"host": None},
    {"host": ""}, {"host": "   "}, {"host": "\t\n", "multipath": False}])
def test_connector_without_host_refused(given: dict[str, Any]) -> None:
    with pytest.raises(exc.InvalidArgument) as info:
        ConnectorProperties.from_dict(given)
    message = str(info.value)
    assert "'host'" in message
    assert repr(given) in message  # it says what was given


def test_refusal_names_the_bad_host_and_hides_secrets() -> None:
    with pytest.raises(exc.InvalidArgument) as info:
        ConnectorProperties.from_dict({"host": "", "auth_password": "s3cret-pw"})
    message = str(info.value)
    assert "'host' ''" in message
    assert "s3cret-pw" not in message and "'auth_password': '***'" in message


def test_typed_connector_without_host_refused_with_host_returned_as_is() -> None:
    with pytest.raises(exc.InvalidArgument, match="'host'"):
        ConnectorProperties.from_dict(ConnectorProperties(initiator="iqn.x:y"))
    props = ConnectorProperties(host="node-1")
    assert ConnectorProperties.from_dict(props) is props


def test_host_check_can_be_waived_for_stored_connectors() -> None:
    """A record written before the rule may hold ``{}``: reading it back must work."""
    assert ConnectorProperties.from_dict({}, require_host=False).host is None
    assert ConnectorProperties.from_dict(ConnectorProperties(),
                                         require_host=False).host is None
    with pytest.raises(exc.InvalidArgument, match="'host'"):  # types are still checked
        ConnectorProperties.from_dict({"host": 5}, require_host=False)


def test_backend_validate_connector_refuses_no_host() -> None:
    backend = volumelib.Backend("no-host", "fake")
    try:
        with pytest.raises(exc.InvalidArgument, match="'host'"):
            backend.validate_connector({})
        assert backend.validate_connector({"host": "n"})["host"] == "n"
    finally:
        backend.close()
