"""What the package and the container files promise, checked without building an image (scripts/containers.sh
builds and runs them for real): the wheel's contents and entry points, and the compose file's and the
Dockerfile's settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from perceptron_mock.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
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
    # Uploads live in a named volume, so they outlive the container.
    files_dir = mock["environment"]["PERCEPTRON_MOCK_FILES_DIR"]
    assert f"files:{files_dir}" in mock["volumes"] and "files" in compose["volumes"]


def test_dockerfile_runs_as_non_root_with_settings_from_the_environment():
    docker = _dockerfile()
    assert docker["user"] not in ("root", "0")
    assert set(docker["env"]) - {"PYTHONUNBUFFERED"} <= SETTING_VARS
    assert docker["env"]["PERCEPTRON_MOCK_HOST"] == "0.0.0.0"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)],
        check=True,
    )
    [built] = wheels.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_the_wheel_installs_perceptron_mock_and_nothing_named_app(wheel):
    top = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in top if not t.endswith((".dist-info", ".data"))} == {"perceptron_mock"}
    # Every folder of app/ that holds modules is in the wheel (a new one must be listed in pyproject).
    folders = {p.parent.relative_to(ROOT / "app") for p in (ROOT / "app").rglob("*.py")}
    packaged = {Path(name).parent.relative_to("perceptron_mock") for name in wheel.namelist() if name.endswith(".py")}
    assert folders == packaged


def test_the_wheel_holds_the_model_catalog(wheel):
    assert wheel.read("perceptron_mock/models.yaml") == (ROOT / "app" / "models.yaml").read_bytes()


def test_the_wheel_holds_the_live_views_static_files(wheel):
    static = ROOT / "app" / "api" / "static"
    for path in static.iterdir():
        assert wheel.read(f"perceptron_mock/api/static/{path.name}") == path.read_bytes()


def test_the_wheel_declares_the_console_scripts_and_the_pytest_plugin(wheel):
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    for line in (
        "perceptron-mock = perceptron_mock.cli:main",
        "perceptron-mock-healthcheck = perceptron_mock.probe:healthcheck",
        "perceptron-mock-smoke = perceptron_mock.probe:smoke",
        "perceptron_mock = perceptron_mock.testing.plugin",
    ):
        assert line in text
