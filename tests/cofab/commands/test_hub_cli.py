"""`cofab hub token`: an operator issues a token straight into the hub's database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_a_token_issued_on_the_command_line_works_on_the_api(tmp_path):
    env = {**os.environ, "COFAB_DATA_DIR": str(tmp_path / "hub")}
    done = subprocess.run(
        [sys.executable, "-m", "cofab.cli", "hub", "token", "--role", "city", "--name", "City", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout.strip().splitlines()[-1])
    assert issued["role"] == "city" and issued["token"].startswith("cofab_")
    settings = Settings(data_dir=tmp_path / "hub", mqtt_enabled=False)
    with TestClient(create_app(settings)) as api:
        response = api.get("/api/v1/designs", headers={"Authorization": f"Bearer {issued['token']}"})
    assert response.status_code == 200
