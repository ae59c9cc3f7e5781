"""Pure functions and files: password hashes, the ACL and config texts, the credential store."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from hub.broker import (
    BrokerCredentials,
    BrokerSettings,
    hash_password,
    password_line,
    render_acl,
    render_config,
    verify_password,
)
from hub.broker.passwords import parse_password_line

# Written by the real `mosquitto_passwd -b` (2.0.11) for user alice, password "secret".
MOSQUITTO_PASSWD_LINE = (
    "alice:$7$101$9ucNoAnRkrkytet7$Rd4KyDCaFMNuwtACfwj2Cr/42485ACaQRQ4kmcRcQSSm6eNp6M9s59J"
    "CbrxQHpsSDmLnUgBJLR1f6uvQeyr9vQ=="
)


def settings(tmp_path: Path, **overrides) -> BrokerSettings:
    values = dict(data_dir=tmp_path, port=18830, hub_password="pw")
    values.update(overrides)
    return BrokerSettings(**values)


class TestPasswords:
    def test_verifies_a_line_written_by_mosquitto_passwd(self) -> None:
        user, password_hash = parse_password_line(MOSQUITTO_PASSWD_LINE)
        assert user == "alice"
        assert verify_password("secret", password_hash)
        assert not verify_password("Secret", password_hash)

    def test_same_salt_gives_mosquitto_passwd_hash(self) -> None:
        reference = MOSQUITTO_PASSWD_LINE.split(":", 1)[1]
        salt = base64.b64decode(reference.split("$")[3])
        assert hash_password("secret", salt=salt) == reference

    def test_format(self) -> None:
        encoded = hash_password("pw")
        empty, algorithm, iterations, salt, digest = encoded.split("$")
        assert (empty, algorithm, iterations) == ("", "7", "101")
        assert len(salt) == 16 and len(digest) == 88  # base64 of 12 and 64 bytes
        assert hash_password("pw") != encoded  # fresh salt every time
        assert verify_password("pw", encoded)

    def test_rejects_what_the_file_cannot_hold(self) -> None:
        with pytest.raises(ValueError):
            hash_password("")
        with pytest.raises(ValueError):
            hash_password("two\nlines")
        with pytest.raises(ValueError):
            password_line("a:b", hash_password("pw"))
        with pytest.raises(ValueError):
            password_line("alice", "plain-text")

    def test_verify_refuses_other_formats(self) -> None:
        assert not verify_password("pw", "$6$abc$def")
        assert not verify_password("pw", "garbage")


class TestAcl:
    def test_hub_gets_everything_nodes_their_own_topics(self) -> None:
        lines = render_acl("cofab/v1", "hub").splitlines()
        body = [line for line in lines if line and not line.startswith("#")]
        assert body == [
            "user hub",
            "topic readwrite cofab/v1/#",
            "pattern read cofab/v1/nodes/%u/jobs",
            "pattern write cofab/v1/nodes/%u/status",
            "pattern write cofab/v1/nodes/%u/events",
        ]

    @pytest.mark.parametrize("prefix", ["", "cofab/#", "cofab/+/x", "cofab/", "co fab", "co%u"])
    def test_rejects_bad_prefix(self, prefix: str) -> None:
        with pytest.raises(ValueError):
            render_acl(prefix, "hub")

    @pytest.mark.parametrize("user", ["", "a b", "a/b", "+", "#", "-x"])
    def test_rejects_bad_hub_user(self, user: str) -> None:
        with pytest.raises(ValueError):
            render_acl("cofab/v1", user)


class TestConfig:
    def test_renders_the_expected_lines(self, tmp_path: Path) -> None:
        s = settings(tmp_path, host="127.0.0.1", port=18830)
        lines = render_config(s).splitlines()
        assert lines[1] == "per_listener_settings true"  # must precede any listener
        for expected in [
            "listener 18830 127.0.0.1",
            "allow_anonymous false",
            f"password_file {tmp_path}/passwd",
            f"acl_file {tmp_path}/acl",
            "persistence true",
            f"persistence_location {tmp_path}/persistence/",
            "autosave_interval 10",
            "set_tcp_nodelay true",
            "max_queued_messages 1000",
            f"log_dest file {tmp_path}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]:
            assert expected in lines
        assert "use_username_as_clientid true" not in lines
        assert lines.index("listener 18830 127.0.0.1") < lines.index(f"password_file {tmp_path}/passwd")

    def test_hub_listener_forces_client_ids_on_the_node_listener_only(self, tmp_path: Path) -> None:
        s = settings(tmp_path, port=18830, hub_port=18831)
        lines = render_config(s).splitlines()
        node, forced, hub = (
            lines.index("listener 18830 127.0.0.1"),
            lines.index("use_username_as_clientid true"),
            lines.index("listener 18831 127.0.0.1"),
        )
        assert node < forced < hub
        # Each listener its own users: the hub's listener reads a file with the hub alone.
        assert lines[hub:].count("allow_anonymous false") == 1
        assert lines.index(f"password_file {tmp_path}/passwd") < hub
        assert lines.index(f"password_file {tmp_path}/hub.passwd") > hub
        assert s.hub_endpoint == ("127.0.0.1", 18831)
        assert s.node_endpoint == ("127.0.0.1", 18830)

    def test_settings_hide_the_password_and_validate(self, tmp_path: Path) -> None:
        assert "pw" not in repr(settings(tmp_path, hub_password="pw-secret"))
        for bad in [
            dict(port=0),
            dict(port=70000),
            dict(hub_password=""),
            dict(hub_username="a/b"),
            dict(prefix="x/#"),
            dict(host="bad host"),
            dict(hub_port=18830),
            dict(data_dir=tmp_path / "a\nb"),
        ]:
            with pytest.raises(ValueError):
                settings(tmp_path, **bad)


class TestCredentials:
    def test_persist_and_reload(self, tmp_path: Path) -> None:
        s = settings(tmp_path)
        creds = BrokerCredentials(s)
        creds.set_user("hub", "pw")
        creds.set_user("lab-1", "one")
        creds.set_user("lab-2", "two")
        assert creds.remove_user("lab-2")
        assert not creds.remove_user("lab-2")
        creds.write_files()

        assert stat.S_IMODE(s.password_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(s.acl_file.stat().st_mode) == 0o600
        assert s.acl_file.read_text() == render_acl(s.prefix, s.hub_username)
        assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind

        again = BrokerCredentials(s)
        assert again.usernames() == ["hub", "lab-1"]
        assert again.verify("lab-1", "one")
        assert not again.verify("lab-1", "two")
        assert not again.verify("nobody", "one")

    def test_a_malformed_password_file_is_an_error(self, tmp_path: Path) -> None:
        s = settings(tmp_path)
        s.password_file.write_text("lab-1:not-a-hash\n")
        with pytest.raises(ValueError, match="passwd:1"):
            BrokerCredentials(s)
