"""Choosing a driver from a machine configuration."""

from __future__ import annotations

import pytest

from firmware_bridge import DriverConfigError, OctoPrintDriver, create_driver


def test_octoprint_config_makes_an_octoprint_driver() -> None:
    driver = create_driver({"type": "octoprint", "url": "http://127.0.0.1:5000", "api_key": "k", "port": "VIRTUAL"})
    try:
        assert isinstance(driver, OctoPrintDriver)
        assert driver.url == "http://127.0.0.1:5000"
    finally:
        driver.close()


def test_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(
        DriverConfigError, match="unknown machine type 'smoothie'; known types: grbl, moonraker, octoprint"
    ):
        create_driver({"type": "smoothie", "port": "/dev/ttyUSB0"})
    with pytest.raises(DriverConfigError, match="unknown machine type None"):
        create_driver({"url": "http://x"})


def test_a_misspelt_key_is_named_with_the_accepted_ones() -> None:
    with pytest.raises(DriverConfigError, match=r"unknown key\(s\) apikey .*accepted keys: api_key"):
        create_driver({"type": "octoprint", "url": "http://x:1", "apikey": "k"})


def test_missing_and_invalid_values_are_config_errors() -> None:
    with pytest.raises(DriverConfigError, match=r"needs the key\(s\) api_key"):
        create_driver({"type": "octoprint", "url": "http://x:1"})
    with pytest.raises(DriverConfigError, match="must look like http://host:port"):
        create_driver({"type": "octoprint", "url": "x:1", "api_key": "k"})
    with pytest.raises(DriverConfigError, match="one non-empty line"):
        create_driver({"type": "octoprint", "url": "http://x:1", "api_key": "k", "setup_commands": ["M220 S100\nM112"]})
