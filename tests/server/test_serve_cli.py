"""``cutout serve``: flags and ``$PORT`` reach the settings of the running server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.server.live import live_server


def test_help_lists_the_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cutout.cli.main", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for flag in ("--port", "--model", "--weights", "--device", "--max-batch", "--queue-size"):
        assert flag in result.stdout


def test_port_from_env_and_flags_reach_the_server(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("cli-key\n", encoding="utf-8")
    args = [
        "--api-keys-file",
        str(keys),
        "--rate-limit-mp",
        "100",
        "--allow-url-host",
        "images.example.com",
        "--max-batch",
        "3",
        "--queue-size",
        "7",
        "--max-upload-mb",
        "2",
        "--shutdown-grace",
        "4",
    ]
    # the fake backend (no weights) behind the same flag parsing and serve code
    with live_server(args, port_from_env=True, fake_delay_s=0) as server:
        info = httpx.get(f"{server.url}/model-info").json()
        assert info["model"] == "fake"
        assert info["batch"]["max_batch"] == 3
        assert info["batch"]["queue_size"] == 7
        assert info["limits"]["max_upload_bytes"] == 2 * 1024 * 1024
        assert info["limits"]["shutdown_grace_s"] == 4
        denied = httpx.get(f"{server.url}/v1.0/account")
        assert denied.status_code == 403
        account = httpx.get(f"{server.url}/v1.0/account", headers={"X-Api-Key": "cli-key"})
        assert account.json()["data"]["attributes"]["api"]["free_calls"] == 100
        # URLs are enabled for the allowed host only (this one resolves nowhere useful)
        refused = httpx.post(
            f"{server.url}/v1.0/removebg",
            json={"image_url": "https://other.example.org/a.jpg"},
            headers={"X-Api-Key": "cli-key"},
        )
        assert "not on the allow-list" in refused.json()["errors"][0]["detail"]
        assert server.terminate() == 0


def test_unknown_model_is_one_line_and_exit_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cutout.cli.main", "serve", "--model", "nope", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("cutout: unknown model 'nope'")
    assert len(result.stderr.strip().splitlines()) == 1
