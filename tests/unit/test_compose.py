"""docker-compose.yml cannot run here (no Docker engine): check it agrees with the sandbox."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from voxlancer.asterisk.instance import (
    CONFIG_TEMPLATES,
    PLACEHOLDER,
    Instance,
    render_config,
    render_values,
)
from voxlancer.asterisk.rootfs import PACKAGES, SandboxError
from voxlancer.config import Settings

REPO = Path(__file__).resolve().parents[2]
MEDIA = "/var/lib/voxlancer/media"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def template_placeholders() -> set[str]:
    found: set[str] = set()
    for template in CONFIG_TEMPLATES.glob("*.conf"):
        found |= set(PLACEHOLDER.findall(template.read_text()))
    return found


def test_services_and_health_checks(services: dict) -> None:
    assert set(services) == {"postgres", "asterisk", "api", "dialer", "webhooks"}
    assert services["postgres"]["image"] == "postgres:15"
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert services["api"]["command"][:3] == ["api", "--host", "0.0.0.0"]
    assert services["dialer"]["command"] == ["dialer"]
    assert services["webhooks"]["command"] == ["webhooks"]
    assert services["webhooks"]["environment"]["DATABASE_URL"] == \
        services["api"]["environment"]["DATABASE_URL"]
    assert "pgdata" in services["postgres"]["volumes"][0]


def test_asterisk_image_installs_the_sandbox_packages() -> None:
    dockerfile = (REPO / "asterisk-config" / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM debian:sid-slim" in dockerfile
    line = re.search(r"apt-get install -y --no-install-recommends ([^\\\n]+)", dockerfile)
    assert line is not None
    assert tuple(line.group(1).split()) == PACKAGES
    assert "FROM python:3.11-slim" in (REPO / "Dockerfile").read_text()


def test_asterisk_ports_match_the_sandbox(services: dict) -> None:
    instance = Instance()
    env = services["asterisk"]["environment"]
    ports = services["asterisk"]["ports"]
    rtp_start, rtp_end = instance.rtp_ports
    assert f"{instance.sip_port}:{instance.sip_port}/udp" in ports
    assert f"{rtp_start}-{rtp_end}:{rtp_start}-{rtp_end}/udp" in ports
    assert (int(env["VOXLANCER_RTP_START"]), int(env["VOXLANCER_RTP_END"])) == (rtp_start,
                                                                               rtp_end)
    assert rtp_end - rtp_start + 1 >= 4000
    assert int(env["VOXLANCER_SIP_PORT"]) == instance.sip_port
    _, ari_port = instance.ari_address(Settings.ari_url)
    assert int(env["VOXLANCER_ARI_PORT"]) == ari_port
    assert f"127.0.0.1:{ari_port}:{ari_port}" in ports


def test_ari_credentials_and_app_agree(services: dict) -> None:
    asterisk = services["asterisk"]["environment"]
    for name in ("api", "dialer"):
        env = services[name]["environment"]
        assert env["VOXLANCER_ARI_URL"] == f"http://asterisk:{asterisk['VOXLANCER_ARI_PORT']}"
        for key in ("VOXLANCER_ARI_USER", "VOXLANCER_ARI_PASSWORD", "VOXLANCER_ARI_APP"):
            assert env[key] == asterisk[key], (name, key)
    assert asterisk["VOXLANCER_ARI_USER"] == "${VOXLANCER_ARI_USER:-voxlancer}"
    assert Settings.ari_user == "voxlancer"
    # No working password is committed: it must come from .env.
    assert asterisk["VOXLANCER_ARI_PASSWORD"].startswith("${VOXLANCER_ARI_PASSWORD:?")


def test_media_is_shared_at_the_same_path(services: dict) -> None:
    for name in ("api", "dialer", "asterisk"):
        mounts = [v.split(":") for v in services[name]["volumes"]]
        assert ["media", MEDIA] in [m[:2] for m in mounts], name
    for name in ("api", "dialer"):
        assert services[name]["environment"]["VOXLANCER_MEDIA_DIR"] == MEDIA


def test_asterisk_uses_the_repository_config(services: dict) -> None:
    entrypoint = (REPO / "asterisk-config" / "docker-entrypoint.sh").read_text()
    templates = re.search(r"^TEMPLATES=(\S+)$", entrypoint, re.MULTILINE)
    assert templates is not None
    assert f"./asterisk-config:{templates.group(1)}:ro" in services["asterisk"]["volumes"]
    assert services["asterisk"]["build"]["context"] == "./asterisk-config"


def test_both_renderers_fill_every_placeholder(tmp_path: Path) -> None:
    wanted = template_placeholders()
    entrypoint = (REPO / "asterisk-config" / "docker-entrypoint.sh").read_text()
    assert set(re.findall(r"^render ([A-Z_]+) ", entrypoint, re.MULTILINE)) == wanted
    settings = Settings.from_env({"VOXLANCER_DATA_DIR": str(tmp_path)})
    assert set(render_values(settings, Instance(), "/usr/lib/x/asterisk/modules")) == wanted


def test_the_sandbox_renders_from_settings(tmp_path: Path) -> None:
    dev = Settings.from_env({"VOXLANCER_DATA_DIR": str(tmp_path),
                             "VOXLANCER_SIP_BIND": "192.0.2.7"})
    values = render_values(dev, Instance(), "/usr/lib/x/asterisk/modules")
    assert values["SIP_BIND"] == "192.0.2.7"
    generated = (tmp_path / "asterisk" / "softphone-password").read_text().strip()
    assert values["SOFTPHONE_PASSWORD"] == generated and len(generated) >= 12
    chosen = dataclasses.replace(dev, softphone_password="a-chosen-password")
    assert render_values(chosen, Instance(), "/m")["SOFTPHONE_PASSWORD"] == "a-chosen-password"
    production = dataclasses.replace(dev, env="production")
    with pytest.raises(SandboxError, match="VOXLANCER_SOFTPHONE_PASSWORD"):
        render_values(production, Instance(), "/m")


def test_asterisk_writes_call_records_into_the_voxlancer_database(services: dict,
                                                                   compose: dict) -> None:
    asterisk = services["asterisk"]
    env = asterisk["environment"]
    # The password is a ${...} reference, which urlsplit cannot parse.
    url = re.fullmatch(r"postgresql://(?P<user>[^:]+):(?P<password>\$\{[^}]+\})@"
                       r"(?P<host>[^:/]+):(?P<port>\d+)/(?P<db>\w+)",
                       compose["x-voxlancer-env"]["DATABASE_URL"])
    assert url is not None
    assert (env["VOXLANCER_CDR_HOST"], env["VOXLANCER_CDR_PORT"]) == (url["host"], url["port"])
    assert (env["VOXLANCER_CDR_DBNAME"], env["VOXLANCER_CDR_USER"]) == (url["db"], url["user"])
    assert env["VOXLANCER_CDR_PASSWORD"] == url["password"]
    assert url["host"] in services and "postgres" in asterisk["depends_on"]
    entrypoint = (REPO / "asterisk-config" / "docker-entrypoint.sh").read_text()
    for name in ("HOST", "PORT", "DBNAME", "USER", "PASSWORD"):
        assert f"render CDR_{name} \"${{VOXLANCER_CDR_{name}:-" in entrypoint


def test_the_sandbox_writes_call_records_where_the_dialer_reads_them(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "VOXLANCER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://vox%40app:p%2Fss@db.example:6543/calls"})
    values = render_values(settings, Instance(), "/m")
    assert {k: v for k, v in values.items() if k.startswith("CDR_")} == {
        "CDR_HOST": "db.example", "CDR_PORT": "6543", "CDR_DBNAME": "calls",
        "CDR_USER": "vox@app", "CDR_PASSWORD": "p/ss"}
    # A database without a password (trust authentication, as the test clusters use).
    trusted = dataclasses.replace(settings, database_url="postgresql://postgres@127.0.0.1:5/x")
    render_config(tmp_path / "etc", render_values(trusted, Instance(), "/m"))
    rendered = (tmp_path / "etc" / "cdr_pgsql.conf").read_text()
    assert "\nport = 5\n" in rendered and "\npassword = \n" in rendered
    assert "\ntable = asterisk_cdr\n" in rendered
    cdr = (tmp_path / "etc" / "cdr.conf").read_text()
    assert "\nbatch = no\n" in cdr and "\nenable = yes\n" in cdr
    assert "noload => cdr_pgsql.so" not in (tmp_path / "etc" / "modules.conf").read_text()
