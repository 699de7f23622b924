"""Every setting, read once from the environment.

Each setting is declared once below with its variable name, default and meaning; `voxlancer
settings` prints the table and the README carries the same table (a test keeps them in step).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A setting is missing or malformed; start-up stops with this message."""


def _setting(env: str, default: Any, doc: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc, "secret": secret})


def _default_data_dir() -> str:
    # Root's home is closed to the postgres user that owns a local cluster; use the FHS place.
    if os.geteuid() == 0:
        return "/var/lib/voxlancer"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "voxlancer")


@dataclass(frozen=True)
class Settings:
    # --- core -------------------------------------------------------------------------------
    env: str = _setting("VOXLANCER_ENV", "dev", "`dev` or `production`; production refuses dev "
                        "defaults such as generated secrets")
    database_url: str = _setting("DATABASE_URL", "", "PostgreSQL URL. Empty: `voxlancer up` runs a "
                                 "local cluster under the data dir and uses it")
    data_dir: str = _setting("VOXLANCER_DATA_DIR", _default_data_dir(), "Where local state lives: "
                             "dev secrets, the local PostgreSQL cluster, the media cache")
    log_level: str = _setting("VOXLANCER_LOG_LEVEL", "info", "debug, info, warning or error")
    # --- API --------------------------------------------------------------------------------
    jwt_secret: str = _setting("VOXLANCER_JWT_SECRET", "", "HS256 signing key, at least 32 "
                               "characters. Required in production; generated and kept in the "
                               "data dir in dev", secret=True)
    jwt_ttl: int = _setting("VOXLANCER_JWT_TTL", 3600, "Lifetime of a login token in seconds")
    jwt_issuer: str = _setting("VOXLANCER_JWT_ISSUER", "voxlancer", "`iss` claim of login tokens")
    session_ttl: int = _setting("VOXLANCER_SESSION_TTL", 43200, "Lifetime of a dashboard "
                                "sign-in (its session cookie) in seconds")
    stream_max_seconds: float = _setting("VOXLANCER_STREAM_MAX_SECONDS", 300.0, "Seconds an "
                                         "event stream stays open before the server ends it "
                                         "(browsers reconnect at once, re-checking credentials)")
    streams_per_customer: int = _setting("VOXLANCER_STREAMS_PER_CUSTOMER", 20, "Live event "
                                         "streams one customer may have open per API process; "
                                         "more get 429")
    login_max_failures: int = _setting("VOXLANCER_LOGIN_MAX_FAILURES", 5, "Failed logins allowed "
                                       "per email, and 4x that per client address, per window")
    login_window: int = _setting("VOXLANCER_LOGIN_WINDOW", 900, "Login throttle window in seconds")
    register_max: int = _setting("VOXLANCER_REGISTER_MAX", 10, "Registrations per client address "
                                 "per window in each API process (each costs an argon2 hash); "
                                 "more get 429")
    register_window: int = _setting("VOXLANCER_REGISTER_WINDOW", 3600, "Registration throttle "
                                    "window in seconds")
    trust_proxy: bool = _setting("VOXLANCER_TRUST_PROXY", False, "Take the client address from "
                                 "X-Forwarded-For (only behind a proxy you run)")
    max_json_bytes: int = _setting("VOXLANCER_MAX_JSON_BYTES", 1_048_576, "Largest JSON request "
                                   "body; larger is a 413")
    auth_cache_seconds: float = _setting("VOXLANCER_AUTH_CACHE_SECONDS", 5.0, "Keep a resolved "
                                         "API key or token in memory this long (0: off). "
                                         "Changes made through an API process apply to its next "
                                         "request; changes from elsewhere (CLI, dialer, psql) "
                                         "reach every API process through NOTIFY within "
                                         "milliseconds")
    max_upload_bytes: int = _setting("VOXLANCER_MAX_UPLOAD_BYTES", 100 * 1024 * 1024,
                                     "Largest CSV upload; larger is a 413")
    db_pool_size: int = _setting("VOXLANCER_DB_POOL_SIZE", 20, "Most PostgreSQL connections one "
                                 "API process holds")
    body_idle_timeout: float = _setting("VOXLANCER_BODY_IDLE_TIMEOUT", 30.0, "Seconds a request "
                                        "body (JSON or upload) may stop arriving before the "
                                        "request ends with 408, and a CSV download may go "
                                        "unread before it is cut off")
    body_timeout: float = _setting("VOXLANCER_BODY_TIMEOUT", 600.0, "Seconds within which a "
                                   "whole request body must arrive, however slowly it trickles "
                                   "(408 after)")
    keepalive_timeout: float = _setting("VOXLANCER_KEEPALIVE_TIMEOUT", 75.0, "Seconds a "
                                        "connection may wait for (or trickle) its next request's "
                                        "headers, the first one included, before it is closed; "
                                        "keep it above a load balancer's idle timeout")
    uploads_per_customer: int = _setting("VOXLANCER_UPLOADS_PER_CUSTOMER", 2, "CSV uploads "
                                         "(contacts, do-not-call imports) one customer may have "
                                         "in flight per API process; more get 429")
    upload_writers: int = _setting("VOXLANCER_UPLOAD_WRITERS", 4, "Received CSV uploads written "
                                   "to the database at once per API process (each holds a "
                                   "connection); the others wait holding none. Must be below "
                                   "VOXLANCER_DB_POOL_SIZE")
    max_concurrent_ceiling: int = _setting("VOXLANCER_MAX_CONCURRENT_CEILING", 1000,
                                           "Highest `max_concurrent` a campaign may ask for")
    default_region: str = _setting("VOXLANCER_DEFAULT_REGION", "US", "Region for numbers written "
                                   "without a leading + (ISO 3166 code); empty accepts E.164 only")
    # --- billing ----------------------------------------------------------------------------
    rate_per_minute: Decimal = _setting("VOXLANCER_RATE_PER_MINUTE", Decimal("0.02"),
                                        "Price of one answered minute, in dollars")
    billing_increment: str = _setting("VOXLANCER_BILLING_INCREMENT", "1/1", "Billing increments "
                                      "as minimum/step seconds: 1/1, 6/6, 30/6 or 60/60")
    daily_spend_limit: Decimal = _setting("VOXLANCER_DAILY_SPEND_LIMIT", Decimal("100"),
                                          "Per-account spend per UTC day before calling pauses "
                                          "(operators can override per account)")
    min_balance: Decimal = _setting("VOXLANCER_MIN_BALANCE", Decimal("0.10"), "Balance an account "
                                    "needs to start or keep calling")
    topup_min: Decimal = _setting("VOXLANCER_TOPUP_MIN", Decimal("5"), "Smallest card top-up")
    topup_max: Decimal = _setting("VOXLANCER_TOPUP_MAX", Decimal("1000"), "Largest card top-up")
    stripe_secret_key: str = _setting("STRIPE_SECRET_KEY", "", "Stripe secret key; empty turns "
                                      "card top-ups off (503)", secret=True)
    stripe_webhook_secret: str = _setting("STRIPE_WEBHOOK_SECRET", "", "Signing secret of the "
                                          "Stripe webhook endpoint", secret=True)
    stripe_api_base: str = _setting("STRIPE_API_BASE", "", "Override of Stripe's API address "
                                    "(tests point it at a local stub)")
    stripe_publishable_key: str = _setting("STRIPE_PUBLISHABLE_KEY", "", "Stripe publishable "
                                           "key (pk_live_... or pk_test_...): with "
                                           "STRIPE_SECRET_KEY, the dashboard's billing page "
                                           "takes cards (Stripe Elements); empty: it says to "
                                           "ask the operator")
    # --- text-to-speech ---------------------------------------------------------------------
    voice_dir: str = _setting("VOXLANCER_VOICE_DIR", "", "Directory of Piper voices "
                              "(<name>.onnx + <name>.onnx.json); the bundled en_US-joe-medium "
                              "stands in for any voice not found there")
    voice_models: str = _setting("VOXLANCER_VOICE_MODELS", "", "Preferred Piper models per API "
                                 "voice, first installed wins, e.g. `en-GB=en_GB-alan-medium,"
                                 "en_GB-cori-medium;en-AU=...`; unnamed voices keep the built-in "
                                 "list")
    media_dir: str = _setting("VOXLANCER_MEDIA_DIR", "", "Rendered audio cache; default "
                              "<data dir>/media. May be a directory shared with Asterisk")
    media_base_url: str = _setting("VOXLANCER_MEDIA_BASE_URL", "", "Address Asterisk fetches "
                                   "rendered audio from, e.g. http://10.0.0.5:8080/media; empty: "
                                   "Asterisk reads the shared media directory")
    tts_workers: int = _setting("VOXLANCER_TTS_WORKERS", 1, "Synthesis threads per process")
    tts_threads: int = _setting("VOXLANCER_TTS_THREADS", 0, "onnxruntime threads per synthesis "
                                "thread; 0: CPU cores / VOXLANCER_TTS_WORKERS")
    tts_queue: int = _setting("VOXLANCER_TTS_QUEUE", 16, "Renders for calls queued for a worker "
                              "(more wait their turn); previews are bounded by "
                              "VOXLANCER_PREVIEW_QUEUE")
    preview_per_minute: int = _setting("VOXLANCER_PREVIEW_PER_MINUTE", 20, "TTS previews per "
                                       "customer per minute")
    preview_queue: int = _setting("VOXLANCER_PREVIEW_QUEUE", 16, "TTS previews one customer may "
                                  "have waiting or playing at once (the process: 4 times that) "
                                  "before 429 preview_queue_full")
    # --- Asterisk and the dialer -------------------------------------------------------------
    ari_url: str = _setting("VOXLANCER_ARI_URL", "http://127.0.0.1:8088", "Asterisk REST "
                            "Interface base address")
    ari_user: str = _setting("VOXLANCER_ARI_USER", "voxlancer", "ARI user name")
    ari_password: str = _setting("VOXLANCER_ARI_PASSWORD", "", "ARI password. Required in "
                                 "production; generated and kept in the data dir in dev",
                                 secret=True)
    ari_nodes: str = _setting("VOXLANCER_ARI_NODES", "", "Several Asterisk nodes for one dialer: "
                              "`http://a:8088=500,http://b:8088=500` (ARI URL = most calls at "
                              "once; same ARI user). Empty: the one VOXLANCER_ARI_URL node")
    ari_app: str = _setting("VOXLANCER_ARI_APP", "voxlancer", "Stasis application name")
    trunk: str = _setting("VOXLANCER_TRUNK", "", "PJSIP endpoint for outbound calls; `sim` "
                          "(local sipp) when empty in dev, required in production")
    ring_timeout: int = _setting("VOXLANCER_RING_TIMEOUT", 30, "Seconds a call may ring")
    node_channel_limit: int = _setting("VOXLANCER_NODE_CHANNEL_LIMIT", 1000, "Most calls at once "
                                       "on one Asterisk node")
    trunk_cps: float = _setting("VOXLANCER_TRUNK_CPS", 50.0, "Most new calls per second on the "
                                "trunk")
    calls_per_number_30d: int = _setting("VOXLANCER_CALLS_PER_NUMBER_30D", 3, "Most calls to one "
                                         "number in any 30 days across an account's campaigns")
    dialer_metrics_address: str = _setting("VOXLANCER_DIALER_METRICS_ADDRESS", "127.0.0.1:9101",
                                           "host:port where the dialer serves Prometheus "
                                           "/metrics; empty turns it off")
    lease_seconds: int = _setting("VOXLANCER_LEASE_SECONDS", 120, "How long a dialer holds a "
                                  "contact before another may take it")
    platform_caller_id: str = _setting("VOXLANCER_PLATFORM_CALLER_ID", "", "The platform's own "
                                       "E.164 number, presented on caller-ID verification "
                                       "calls; empty: those calls are anonymous")
    # --- webhooks ------------------------------------------------------------------------
    webhook_metrics_address: str = _setting("VOXLANCER_WEBHOOK_METRICS_ADDRESS", "127.0.0.1:9102",
                                            "host:port where the webhook delivery worker serves "
                                            "Prometheus /metrics; empty turns it off")
    webhook_concurrency: int = _setting("VOXLANCER_WEBHOOK_CONCURRENCY", 64, "Deliveries one "
                                        "webhook worker sends at once")
    webhook_per_endpoint: int = _setting("VOXLANCER_WEBHOOK_PER_ENDPOINT", 8, "Deliveries one "
                                         "webhook worker sends at once to one endpoint, so a "
                                         "slow receiver cannot hold up the others")
    webhook_timeout: float = _setting("VOXLANCER_WEBHOOK_TIMEOUT", 10.0, "Seconds a delivery "
                                      "may take (connect, send, response) before it counts as "
                                      "failed")
    webhook_retry_base: float = _setting("VOXLANCER_WEBHOOK_RETRY_BASE", 60.0, "Seconds before "
                                         "the first retry of a failed delivery; each retry "
                                         "waits twice as long (with jitter, at most 6 hours)")
    webhook_retry_window: float = _setting("VOXLANCER_WEBHOOK_RETRY_WINDOW", 259200.0, "Seconds "
                                           "a failing delivery is retried (3 days), and an "
                                           "endpoint may fail continuously before it is "
                                           "disabled")
    webhook_allow_private: bool = _setting("VOXLANCER_WEBHOOK_ALLOW_PRIVATE", False, "Let "
                                           "webhook URLs reach loopback and private addresses "
                                           "(tests, local development); refused in production")
    # --- the local Asterisk sandbox (`voxlancer asterisk`, `voxlancer up`, e2e tests) ----------
    asterisk_root_cache: str = _setting("VOXLANCER_ASTERISK_ROOT_CACHE", "/var/cache/voxlancer",
                                        "Directory that holds the sandbox's cached Debian roots "
                                        "(one per package list)")
    debian_mirror: str = _setting("VOXLANCER_DEBIAN_MIRROR", "http://deb.debian.org/debian",
                                  "Debian mirror the sandbox root is built from (mmdebstrap)")
    softphone_password: str = _setting("VOXLANCER_SOFTPHONE_PASSWORD", "", "SIP password of the "
                                       "sandbox's `softphone` endpoint, at least 12 characters. "
                                       "Required for the sandbox in production; in dev generated "
                                       "and kept in <data dir>/asterisk/softphone-password",
                                       secret=True)
    phone_ws_url: str = _setting("VOXLANCER_PHONE_WS_URL", "", "Where browsers reach Asterisk's "
                                 "SIP WebSocket for the dashboard's phone (wss://pbx.example.com"
                                 ":8089/ws behind TLS); empty: VOXLANCER_ARI_URL's host and port "
                                 "with ws:// and /ws, right for the localhost sandbox")
    phone_ice_servers: str = _setting("VOXLANCER_PHONE_ICE_SERVERS", "", "STUN/TURN servers "
                                      "for the browser phone, as a JSON list of RTCIceServer "
                                      "objects ([{\"urls\": \"turn:turn.example.com:3478\", "
                                      "\"username\": ..., \"credential\": ...}]); empty on "
                                      "localhost", secret=True)
    sip_bind: str = _setting("VOXLANCER_SIP_BIND", "127.0.0.1", "Address the sandbox's SIP "
                             "transport listens on; a LAN address lets a softphone register")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f, raw)
        settings = cls(**values)
        return settings._with_dev_defaults()

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def media_path(self) -> Path:
        return Path(self.media_dir or Path(self.data_dir) / "media")

    @property
    def card_payments(self) -> bool:
        """Whether the dashboard takes cards: Stripe.js needs the publishable key, the top-up
        it sends needs the secret one."""
        return bool(self.stripe_publishable_key and self.stripe_secret_key)

    @property
    def outbound_trunk(self) -> str:
        return self.trunk or "sim"

    def _with_dev_defaults(self) -> Settings:
        if self.env not in ("dev", "production"):
            raise ConfigError(f"VOXLANCER_ENV must be dev or production, not {self.env!r}")
        if self.billing_increment not in ("1/1", "6/6", "30/6", "60/60"):
            raise ConfigError("VOXLANCER_BILLING_INCREMENT must be one of 1/1, 6/6, 30/6, 60/60")
        if not 0 < self.upload_writers < self.db_pool_size:
            raise ConfigError("VOXLANCER_UPLOAD_WRITERS must be at least 1 and below "
                              "VOXLANCER_DB_POOL_SIZE, so that uploads leave connections for "
                              "every other request")
        if self.webhook_concurrency < 1 or self.webhook_per_endpoint < 1:
            raise ConfigError("VOXLANCER_WEBHOOK_CONCURRENCY and VOXLANCER_WEBHOOK_PER_ENDPOINT "
                              "must be at least 1")
        if min(self.webhook_timeout, self.webhook_retry_base, self.webhook_retry_window) <= 0:
            raise ConfigError("VOXLANCER_WEBHOOK_TIMEOUT, VOXLANCER_WEBHOOK_RETRY_BASE and "
                              "VOXLANCER_WEBHOOK_RETRY_WINDOW must be more than 0 seconds")
        if self.uploads_per_customer < 1:
            raise ConfigError("VOXLANCER_UPLOADS_PER_CUSTOMER must be at least 1")
        if min(self.body_idle_timeout, self.body_timeout, self.keepalive_timeout) <= 0:
            raise ConfigError("VOXLANCER_BODY_IDLE_TIMEOUT, VOXLANCER_BODY_TIMEOUT and "
                              "VOXLANCER_KEEPALIVE_TIMEOUT must be more than 0 seconds")
        if self.platform_caller_id and not re.fullmatch(r"\+[1-9][0-9]{5,15}",
                                                        self.platform_caller_id):
            raise ConfigError("VOXLANCER_PLATFORM_CALLER_ID must be an E.164 number such as "
                              "+12025550100, or empty")
        if self.stripe_publishable_key and not re.fullmatch(r"pk_(live|test)_[A-Za-z0-9]+",
                                                            self.stripe_publishable_key):
            raise ConfigError("STRIPE_PUBLISHABLE_KEY must be a Stripe publishable key "
                              "(pk_live_... or pk_test_...), or empty")
        if self.production:
            problems = []
            if len(self.jwt_secret) < 32:
                problems.append("VOXLANCER_JWT_SECRET must be set to at least 32 random "
                                "characters (try: openssl rand -base64 48)")
            if len(self.ari_password) < 16:
                problems.append("VOXLANCER_ARI_PASSWORD must be set to at least 16 characters")
            if not self.trunk:
                problems.append("VOXLANCER_TRUNK must name the PJSIP trunk endpoint")
            if not self.database_url:
                problems.append("DATABASE_URL must be set")
            if self.webhook_allow_private:
                problems.append("VOXLANCER_WEBHOOK_ALLOW_PRIVATE is for development: webhooks "
                                "must not reach private addresses in production")
            # Only the sandbox uses it (the API and dialer containers never get one), so an
            # empty value is refused where the sandbox starts; a weak one is refused everywhere.
            if self.softphone_password and len(self.softphone_password) < 12:
                problems.append("VOXLANCER_SOFTPHONE_PASSWORD must be at least 12 characters")
            if problems:
                raise ConfigError("production settings are incomplete:\n  " +
                                  "\n  ".join(problems))
            return self
        if self.jwt_secret and self.ari_password:
            if len(self.jwt_secret) < 32:
                raise ConfigError("VOXLANCER_JWT_SECRET must be at least 32 characters")
            return self
        kept = _dev_secrets(Path(self.data_dir))
        return dataclasses.replace(self, jwt_secret=self.jwt_secret or kept["jwt_secret"],
                                   ari_password=self.ari_password or kept["ari_password"])

    def public_items(self) -> list[tuple[str, str]]:
        """(variable, value) pairs with secrets masked, for logs and `voxlancer settings`."""
        out = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            shown = "(set)" if f.metadata["secret"] and value else str(value)
            out.append((f.metadata["env"], shown))
        return out


def settings_table() -> str:
    """The Markdown table of every setting, as the README shows it."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        default = f.default
        if f.name == "data_dir":
            default = "~/.local/share/voxlancer (root: /var/lib/voxlancer)"
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        rows.append(f"| `{f.metadata['env']}` | {shown} | {f.metadata['doc']} |")
    return "\n".join(rows)


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type
    name = f.metadata["env"]
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Decimal":
            return Decimal(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except (ValueError, InvalidOperation):
        raise ConfigError(f"{name} must be a {kind}, not {raw!r}") from None
    return raw


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets generated once per dev machine and kept, so tokens survive restarts."""
    path = data_dir / "dev-secrets.json"
    kept: dict[str, str]
    try:
        kept = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        kept = {}
    wanted = {"jwt_secret": 48, "ari_password": 24}
    if all(kept.get(k) for k in wanted):
        return kept
    for key, size in wanted.items():
        kept.setdefault(key, secrets.token_urlsafe(size))
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(kept, out)
    tmp.replace(path)
    return kept
