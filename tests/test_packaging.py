"""What can be checked of the container setup without a Docker engine: the compose file names real
services and real settings, and the image's command, run as a plain process from a wheel built and
installed in a fresh virtualenv, serves and passes its own healthcheck and smoke request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest
import yaml

from app.settings import Settings
from tests.server import free_port, stop

ROOT = Path(__file__).resolve().parent.parent
SETTING_VARS = {f"PERCEPTRON_MOCK_{name.upper()}" for name in Settings.model_fields}


def _dockerfile() -> dict[str, object]:
    """The final stage's instructions that matter: ENV, USER, CMD, HEALTHCHECK."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", final, re.M):
        env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return {
        "env": env,
        "user": re.search(r"^USER (\S+)", final, re.M).group(1),
        "cmd": json.loads(re.search(r"^CMD (\[.*\])$", final, re.M).group(1)),
        "healthcheck": json.loads(re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", final, re.M).group(1)),
    }


def test_compose_file_parses_and_names_real_services_and_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"mock", "redis", "smoke"} <= set(services)
    mock = services["mock"]
    assert mock["build"] == "."
    assert set(mock["environment"]) <= SETTING_VARS, set(mock["environment"]) - SETTING_VARS
    assert int(mock["environment"]["PERCEPTRON_MOCK_WORKERS"]) >= 2
    assert "redis://redis:" in " ".join(str(v) for v in mock["environment"].values())
    assert mock["healthcheck"]["test"][1:] == _dockerfile()["healthcheck"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
    assert services["smoke"]["command"][0] == "perceptron-mock-smoke"
    assert any(volume.split(":")[1] == "/fixtures" for volume in mock["volumes"])


def test_dockerfile_runs_as_non_root_with_settings_from_the_environment():
    docker = _dockerfile()
    assert docker["user"] not in ("root", "0")
    assert set(docker["env"]) - {"PYTHONUNBUFFERED"} <= SETTING_VARS
    assert docker["env"]["PERCEPTRON_MOCK_HOST"] == "0.0.0.0"


@pytest.mark.timeout(600)
def test_image_command_serves_from_a_wheel_in_a_fresh_virtualenv(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)],
        check=True,
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run([bin_dir / "pip", "install", "--quiet", *wheels.glob("*.whl")], check=True)

    docker = _dockerfile()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCEPTRON_MOCK_")}
    # The image's environment, with loopback and a free port instead of 0.0.0.0:8000.
    env.update(docker["env"], PERCEPTRON_MOCK_HOST="127.0.0.1", PERCEPTRON_MOCK_PORT=str(port))
    env["PERCEPTRON_MOCK_FIXTURES_DIR"] = str(ROOT / "fixtures")
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    server = subprocess.Popen(docker["cmd"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            healthy = subprocess.run(docker["healthcheck"], env=env, cwd=tmp_path, capture_output=True)
            if healthy.returncode == 0:
                break
            assert server.poll() is None, server.stdout.read().decode()
            time.sleep(0.2)
        assert healthy.returncode == 0, healthy.stderr.decode()
        smoke = subprocess.run(
            ["perceptron-mock-smoke", f"http://127.0.0.1:{port}"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert smoke.returncode == 0, smoke.stderr
        assert smoke.stdout.startswith("isaac-0.2-2b-preview: ")
    finally:
        stopped = stop(server)
    assert stopped, "the image's command did not exit within 10 s of SIGTERM (docker stop would kill it)"
    # The server ran from the virtualenv, not from this checkout.
    assert str(env_dir) in subprocess.run([bin_dir / "python", "-c", "import app; print(app.__file__)"], capture_output=True, text=True, cwd=tmp_path).stdout
