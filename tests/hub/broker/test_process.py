"""Finding the mosquitto binary (no broker is started here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import hub.broker.process as process
from hub.broker import BrokerError, find_mosquitto
from tests.conftest import require_component


class TestFindMosquitto:
    def test_env_wins(self, tmp_path: Path) -> None:
        binary = tmp_path / "my-mosquitto"
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
        assert find_mosquitto({"COFAB_MOSQUITTO_BIN": str(binary), "PATH": ""}) == str(binary)

    def test_env_pointing_nowhere_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(BrokerError, match="COFAB_MOSQUITTO_BIN"):
            find_mosquitto({"COFAB_MOSQUITTO_BIN": str(tmp_path / "missing"), "PATH": ""})

    def test_falls_back_to_usr_sbin(self, tmp_path: Path) -> None:
        if not Path("/usr/sbin/mosquitto").exists():
            require_component("Mosquitto", "it is not installed in /usr/sbin")
        assert find_mosquitto({"PATH": str(tmp_path)}) == "/usr/sbin/mosquitto"

    def test_missing_everywhere_is_a_clear_error(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setattr(process, "FALLBACK_BINARY", str(tmp_path / "no-mosquitto"))
        with pytest.raises(BrokerError, match="apt-get install mosquitto"):
            find_mosquitto({"PATH": str(tmp_path)})


def test_a_stale_pid_file_never_kills_a_stranger(tmp_path: Path) -> None:
    # The pid in the file now belongs to some other program (pids are reused).
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        pid_file = tmp_path / "mosquitto.pid"
        pid_file.write_text(f"{stranger.pid}\n")
        process.stop_stale(pid_file, tmp_path / "mosquitto.conf", timeout=1.0)
        assert stranger.poll() is None
        assert not pid_file.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_log_tail_shows_the_last_lines(tmp_path: Path) -> None:
    log_file = tmp_path / "mosquitto.log"
    log_file.write_text("".join(f"line {i}\n" for i in range(100)))
    tail = process.tail_logs([tmp_path / "missing.log", log_file], lines=3)
    assert tail.splitlines()[1:] == ["  line 97", "  line 98", "  line 99"]
    assert process.tail_logs([tmp_path / "missing.log"]) == "(mosquitto wrote no log)"
