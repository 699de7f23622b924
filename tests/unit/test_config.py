from decimal import Decimal
from pathlib import Path

import pytest

from voxlancer import browser_phone
from voxlancer.config import ConfigError, Settings, settings_table
from voxlancer.money import show


def test_production_refuses_missing_or_weak_secrets(tmp_path):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"VOXLANCER_ENV": "production", "VOXLANCER_DATA_DIR": str(tmp_path),
                           "VOXLANCER_JWT_SECRET": "short"})
    assert "VOXLANCER_JWT_SECRET" in str(err.value)
    assert not list(tmp_path.iterdir())


def test_dev_generates_secrets_once_and_keeps_them(tmp_path):
    first = Settings.from_env({"VOXLANCER_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"VOXLANCER_DATA_DIR": str(tmp_path)})
    assert len(first.jwt_secret) >= 32
    assert first.jwt_secret == second.jwt_secret
    assert first.ari_password == second.ari_password
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o777 == 0o600


def test_values_are_typed_and_bad_ones_named():
    env = {"VOXLANCER_DATA_DIR": "/tmp/x", "VOXLANCER_JWT_SECRET": "k" * 40,
           "VOXLANCER_ARI_PASSWORD": "p" * 20, "VOXLANCER_RATE_PER_MINUTE": "0.035"}
    assert Settings.from_env(env).rate_per_minute == Decimal("0.035")
    with pytest.raises(ConfigError, match="VOXLANCER_JWT_TTL"):
        Settings.from_env({**env, "VOXLANCER_JWT_TTL": "an hour"})


def test_readme_lists_every_setting():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert settings_table() in readme


@pytest.mark.parametrize(("amount", "shown"), [
    ("0", "0"), ("0.0000", "0"), ("10", "10.00"), ("0.91", "0.91"), ("0.0150", "0.015"),
    ("0.00333", "0.0033"), ("60.5", "60.50"),
])
def test_money_is_shown_as_decimal_strings(amount, shown):
    assert show(Decimal(amount)) == shown


def test_platform_caller_id_is_empty_or_e164():
    env = {"VOXLANCER_DATA_DIR": "/tmp/x", "VOXLANCER_JWT_SECRET": "k" * 40,
           "VOXLANCER_ARI_PASSWORD": "p" * 20}
    assert Settings.from_env(env).platform_caller_id == ""
    assert Settings.from_env({**env, "VOXLANCER_PLATFORM_CALLER_ID": "+12025550100"}
                             ).platform_caller_id == "+12025550100"
    with pytest.raises(ConfigError, match="VOXLANCER_PLATFORM_CALLER_ID"):
        Settings.from_env({**env, "VOXLANCER_PLATFORM_CALLER_ID": "202-555-0100"})


_PRODUCTION = {"VOXLANCER_ENV": "production", "VOXLANCER_JWT_SECRET": "k" * 40,
               "VOXLANCER_ARI_PASSWORD": "p" * 20, "VOXLANCER_TRUNK": "carrier",
               "DATABASE_URL": "postgresql://db/voxlancer"}


def test_sandbox_settings_come_from_the_environment(tmp_path):
    settings = Settings.from_env({**_PRODUCTION, "VOXLANCER_DATA_DIR": str(tmp_path),
                                  "VOXLANCER_ASTERISK_ROOT_CACHE": "/srv/roots",
                                  "VOXLANCER_DEBIAN_MIRROR": "http://mirror.local/debian",
                                  "VOXLANCER_SOFTPHONE_PASSWORD": "s" * 12,
                                  "VOXLANCER_SIP_BIND": "192.0.2.7"})
    assert (settings.asterisk_root_cache, settings.debian_mirror, settings.sip_bind) == (
        "/srv/roots", "http://mirror.local/debian", "192.0.2.7")
    assert dict(settings.public_items())["VOXLANCER_SOFTPHONE_PASSWORD"] == "(set)"
    defaults = Settings.from_env({"VOXLANCER_DATA_DIR": str(tmp_path)})
    assert (defaults.asterisk_root_cache, defaults.debian_mirror, defaults.sip_bind,
            defaults.softphone_password) == ("/var/cache/voxlancer",
                                             "http://deb.debian.org/debian", "127.0.0.1", "")


def test_production_refuses_a_weak_softphone_password_but_not_an_absent_one(tmp_path):
    # The API and dialer containers run without one; the sandbox refuses to start without it.
    Settings.from_env({**_PRODUCTION, "VOXLANCER_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="VOXLANCER_SOFTPHONE_PASSWORD"):
        Settings.from_env({**_PRODUCTION, "VOXLANCER_DATA_DIR": str(tmp_path),
                           "VOXLANCER_SOFTPHONE_PASSWORD": "change-me"})


def test_uploads_leave_connections_for_other_requests():
    env = {"VOXLANCER_DATA_DIR": "/tmp/x", "VOXLANCER_JWT_SECRET": "k" * 40,
           "VOXLANCER_ARI_PASSWORD": "p" * 20}
    settings = Settings.from_env({**env, "VOXLANCER_DB_POOL_SIZE": "8",
                                  "VOXLANCER_UPLOAD_WRITERS": "2"})
    assert (settings.db_pool_size, settings.upload_writers) == (8, 2)
    with pytest.raises(ConfigError, match="VOXLANCER_UPLOAD_WRITERS"):
        Settings.from_env({**env, "VOXLANCER_DB_POOL_SIZE": "4", "VOXLANCER_UPLOAD_WRITERS": "4"})
    with pytest.raises(ConfigError, match="VOXLANCER_BODY_IDLE_TIMEOUT"):
        Settings.from_env({**env, "VOXLANCER_BODY_IDLE_TIMEOUT": "0"})


def test_production_refuses_webhooks_to_private_addresses(tmp_path):
    env = {"VOXLANCER_ENV": "production", "VOXLANCER_DATA_DIR": str(tmp_path),
           "VOXLANCER_JWT_SECRET": "k" * 40, "VOXLANCER_ARI_PASSWORD": "p" * 20,
           "VOXLANCER_TRUNK": "carrier", "DATABASE_URL": "postgresql://db/voxlancer"}
    assert not Settings.from_env(env).webhook_allow_private
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**env, "VOXLANCER_WEBHOOK_ALLOW_PRIVATE": "true"})
    assert "VOXLANCER_WEBHOOK_ALLOW_PRIVATE" in str(err.value)
    assert Settings.from_env({"VOXLANCER_DATA_DIR": str(tmp_path),
                              "VOXLANCER_WEBHOOK_ALLOW_PRIVATE": "true"}).webhook_allow_private


def test_browser_endpoints_live_on_the_dialers_first_node():
    one = Settings.from_env({"VOXLANCER_ARI_URL": "http://127.0.0.1:8188"})
    assert browser_phone.ari_url(one) == "http://127.0.0.1:8188"
    assert browser_phone.ws_url(one) == "ws://127.0.0.1:8188/ws"
    two = Settings.from_env({"VOXLANCER_ARI_NODES": " http://10.0.0.5:8088=500, http://10.0.0.6:8088",
                             "VOXLANCER_PHONE_WS_URL": "wss://pbx.example.com:8089/ws"})
    assert browser_phone.ari_url(two) == "http://10.0.0.5:8088"
    assert browser_phone.ws_url(two) == "wss://pbx.example.com:8089/ws"
