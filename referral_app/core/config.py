"""Every tunable of the service, read from environment variables (and `.env` when present).

Defaults are the documented production defaults; `make run` turns demo mode on.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import phonenumbers
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from referral_app.core.net import UNIX_SOCKET_PEER
from referral_app.limits import (
    FAILURE_WINDOW_DAYS,
    INVITE_CODE_MAX_LENGTH,
    LOCK_MAX_SECONDS,
    ORIGIN_MAX_LENGTH,
    SECRET_KEY_MIN_LENGTH,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage
    database_url: str = Field(
        default=f"sqlite:///{DATA_DIR / 'referral_app.db'}",
        description="SQLAlchemy URL: a SQLite file or postgresql+psycopg://user@host/db.",
    )
    database_connect_timeout: float = Field(default=5.0, description="Seconds to wait for the database.")
    health_probe_cache_seconds: float = Field(
        default=1.0, ge=0, description="GET /api/health probes the database at most this often per process."
    )
    database_wait_attempts: int = Field(
        default=30, gt=0, description="Tries, one second apart, to reach the database on start before giving up."
    )
    secret_key: str | None = Field(
        default=None,
        repr=False,
        min_length=SECRET_KEY_MIN_LENGTH,
        description="Key for code HMACs, device tokens and the sealed web-app token. Required outside demo mode;"
        " only in demo mode is one generated and kept in the database.",
    )
    secret_key_file: Path | None = Field(
        default=None, description="A file holding SECRET_KEY (a Docker or Kubernetes secret), read on start."
    )
    secret_key_fallbacks: Annotated[list[str], NoDecode] = Field(
        default=[],
        repr=False,
        description="Earlier keys, comma-separated: device tokens and sealed web-app tokens made with them stay"
        " valid after SECRET_KEY is rotated (login codes never do).",
    )

    # Behaviour
    demo_mode: bool = Field(default=False, description="Return `debug_code` with send-code (never in production).")
    default_region: str = Field(default="RU", description="Region assumed for phone numbers without +country.")
    sms_sender: str = Field(
        default="referral_app.services.sms:LogSmsSender",
        description="Import path of the SMS sender class.",
    )
    web_otp_host: str = Field(
        default="",
        description="Host named in the SMS's last line `@<host> #<code>` (WebOTP: the browser on that host offers"
        " the code with one tap). Empty: the host of the app's own address (REFLEX_DEPLOY_URL), else localhost.",
    )
    reflex_deploy_url: str = Field(
        default="", description="The app's public address, as Reflex reads it (http://localhost:PORT when empty)."
    )
    sms_delay_min: float = Field(default=1.0, ge=0, description="Simulated SMS delivery delay, lower bound (s).")
    sms_delay_max: float = Field(default=2.0, ge=0, description="Simulated SMS delivery delay, upper bound (s).")
    test_phone_numbers: Annotated[dict[str, str], NoDecode] = Field(
        default={},
        description="Numbers with a fixed code, for store review, monitoring probes and CI: `+79990000001:1234,"
        "...`. No SMS is sent to them, it works with DEMO_MODE off, and every send and attempt limit applies.",
    )
    sms_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A send the provider has not finished by then is given up (`sms_failed`)."
    )

    reflex_redis_url: str = Field(
        default="",
        description="Redis for the web app's state (Reflex reads it as REFLEX_REDIS_URL); the processes also tell"
        " each other through it which phones' cached refusals an operator lifted.",
    )

    # Login codes
    code_length: int = Field(default=4, ge=4, le=8)
    code_ttl_seconds: int = Field(default=300, gt=0)
    code_resend_cooldown_seconds: int = Field(default=60, ge=0)
    code_max_per_phone_per_hour: int = Field(default=5, gt=0)
    code_max_per_ip_per_hour: int = Field(default=30, gt=0)
    code_max_attempts: int = Field(default=5, gt=0, description="Wrong tries before a code is burned.")
    phone_max_failures: int = Field(
        default=10, gt=0, description="Wrong guesses in a row before a phone is locked."
    )
    phone_max_failures_per_30_days: int = Field(
        default=100, gt=0, description="Wrong guesses evaluated for one phone (by strangers) in any 30 days."
    )
    phone_lock_seconds: int = Field(default=3600, gt=0, description="Shortest lock (never over 24 h).")
    verify_max_per_ip_per_hour: int = Field(
        default=30, gt=0, description="Failed verifications per requester (address, IPv6 prefix) per hour."
    )

    # SMS pumping
    sms_number_types: Annotated[list[str], NoDecode] = Field(
        default=["MOBILE", "FIXED_LINE_OR_MOBILE"],
        description="phonenumbers number types that get an SMS (comma-separated names).",
    )
    allowed_regions: Annotated[list[str], NoDecode] = Field(
        default=[], description="Regions (ISO 3166, comma-separated) whose numbers get an SMS; empty: all."
    )
    sms_max_per_hour: int = Field(default=2000, gt=0, description="SMS sent per hour in total.")
    sms_max_per_country_per_hour: int = Field(
        default=1000, gt=0, description="SMS sent per hour to one country calling code."
    )

    # Invite codes guessed
    invite_max_misses_per_user_per_hour: int = Field(default=10, gt=0)
    invite_max_misses_per_ip_per_hour: int = Field(default=30, gt=0)

    # Sessions
    token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    token_touch_interval_seconds: int = Field(
        default=60, ge=0, description="How often a token's last_used_at is refreshed (limits writes)."
    )
    device_ttl_days: int = Field(
        default=180,
        gt=0,
        description="A device token unused this long is no longer recognised (a new sign-in"
        " there starts as a stranger's).",
    )
    devices_max_per_phone: int = Field(
        default=10,
        gt=0,
        description="Live device tokens per phone; a sign-in past it revokes the least recently used.",
    )

    # HTTP
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=["127.0.0.1", "::1"],
        description="Comma-separated IPs/CIDRs whose X-Forwarded-For is believed; `*` trusts everyone.",
    )
    ipv6_prefix_length: int = Field(
        default=64, ge=32, le=128, description="IPv6 clients are counted by this prefix (one site's /64)."
    )
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated origins (scheme://host[:port]) whose pages may open the web app's websocket"
        " and call the API from a browser. Empty: the app's own origin as built (REFLEX_API_URL, REFLEX_DEPLOY_URL),"
        " plus http://localhost, 127.0.0.1 and [::1] on PORT in demo mode.",
    )

    # Operations
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve Prometheus metrics (/metrics) on this port, apart from the app's (python -m"
        " referral_app.serve only). Unset: no metrics listener.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="The address the metrics listener binds: loopback unless told otherwise."
    )

    # Invite codes
    invite_code_length: int = Field(default=6, ge=4, le=INVITE_CODE_MAX_LENGTH)
    invite_code_alphabet: str = Field(
        default="0123456789ABCDEFGHJKMNPQRSTVWXYZ", description="Crockford base32: no I, L, O, U."
    )

    @field_validator(
        "trusted_proxies",
        "allowed_origins",
        "sms_number_types",
        "allowed_regions",
        "secret_key_fallbacks",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry not in ("*", UNIX_SOCKET_PEER):
                ipaddress.ip_network(entry, strict=False)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        origins = [origin_of(entry) for entry in value]
        for entry, origin in zip(value, origins, strict=True):
            if origin is None:
                raise ValueError(f"not an origin (scheme://host[:port]): {entry!r}")
        return [origin for origin in origins if origin]

    @field_validator("sms_number_types")
    @classmethod
    def _check_number_types(cls, value: list[str]) -> list[str]:
        names = [entry.upper() for entry in value]
        unknown = [name for name in names if not hasattr(phonenumbers.PhoneNumberType, name)]
        if unknown or not names:
            raise ValueError(f"unknown phonenumbers number types: {unknown}")
        return names

    @field_validator("allowed_regions")
    @classmethod
    def _check_regions(cls, value: list[str]) -> list[str]:
        regions = [entry.upper() for entry in value]
        unknown = [region for region in regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown regions: {unknown}")
        return regions

    @field_validator("test_phone_numbers", mode="before")
    @classmethod
    def _parse_test_numbers(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        numbers: dict[str, str] = {}
        for entry in (part.strip() for part in value.split(",")):
            phone, separator, code = entry.rpartition(":")
            if entry and not separator:
                raise ValueError(f"a test number is `+phone:code`: {entry!r}")
            if entry:
                numbers[phone.strip()] = code.strip()
        return numbers

    @model_validator(mode="after")
    def _check_test_numbers(self) -> Settings:
        checked: dict[str, str] = {}
        for phone, code in self.test_phone_numbers.items():
            try:
                number = phonenumbers.parse(phone)
            except phonenumbers.NumberParseException:
                number = None
            if number is None or not phonenumbers.is_valid_number(number):
                raise ValueError(f"TEST_PHONE_NUMBERS: not a phone number in +country form: {phone!r}")
            if not (code.isascii() and code.isdigit() and len(code) == self.code_length):
                raise ValueError(f"TEST_PHONE_NUMBERS: the code of {phone} must be {self.code_length} digits")
            checked[phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)] = code
        self.test_phone_numbers = checked
        return self

    @model_validator(mode="after")
    def _check_failure_budget(self) -> Settings:
        # The bucket refills one guess every 30 days / (budget - burst): that wait is the longest lock, and it
        # must stay within a day so that nobody else can keep the owner out for longer.
        refill = self.phone_max_failures_per_30_days - self.phone_max_failures
        if refill <= 0 or FAILURE_WINDOW_DAYS * 86400 / refill > LOCK_MAX_SECONDS:
            raise ValueError(
                "PHONE_MAX_FAILURES_PER_30_DAYS must exceed PHONE_MAX_FAILURES by at least "
                f"{FAILURE_WINDOW_DAYS} (one guess a day at least)"
            )
        return self

    @field_validator("secret_key", "secret_key_file", "metrics_port", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker-compose passes `SECRET_KEY: ${SECRET_KEY:-}`: an empty variable means "not set".
        return None if value == "" else value

    @model_validator(mode="after")
    def _read_secret_key_file(self) -> Settings:
        if self.secret_key_file is None:
            return self
        if self.secret_key:
            raise ValueError("set SECRET_KEY or SECRET_KEY_FILE, not both")
        try:
            key = self.secret_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as exc:
            raise ValueError(f"SECRET_KEY_FILE {self.secret_key_file} cannot be read: {exc}") from None
        if len(key) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(
                f"SECRET_KEY_FILE {self.secret_key_file} must hold at least {SECRET_KEY_MIN_LENGTH} characters"
            )
        self.secret_key = key
        return self

    @field_validator("secret_key_fallbacks")
    @classmethod
    def _check_fallbacks(cls, value: list[str]) -> list[str]:
        if any(len(key) < SECRET_KEY_MIN_LENGTH for key in value):
            raise ValueError(f"every key must have at least {SECRET_KEY_MIN_LENGTH} characters")
        return value

    def missing_secret_key(self) -> str | None:
        """Why the server must not start (no key outside demo mode), or None. A key kept in the database would
        let whoever holds a copy of it recompute live codes, so production keeps the key apart from the data."""
        if self.secret_key or self.demo_mode:
            return None
        return (
            "SECRET_KEY is not set. Outside demo mode the key for login codes must come from SECRET_KEY or"
            " SECRET_KEY_FILE, never from the database it protects. Make one with: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()

    @property
    def sms_app_host(self) -> str:
        """The host WebOTP binds the code to: WEB_OTP_HOST, or the host of the app's address."""
        return self.web_otp_host or urlsplit(self.reflex_deploy_url).hostname or "localhost"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def web_origins(self, *app_urls: str | None, port: int) -> tuple[str, ...]:
        """The origins whose pages may use the web app and the API from a browser: ALLOWED_ORIGINS, or else
        the origins of the URLs the app is built for (`app_urls`), plus in demo mode every loopback spelling
        (localhost, 127.0.0.1, [::1]) of `port` and of those URLs' loopback ports."""
        if self.allowed_origins:
            return tuple(self.allowed_origins)
        origins = {origin for url in app_urls if url and (origin := origin_of(url))}
        if self.demo_mode:
            ports = {port} | {
                parts.port or 80
                for origin in origins
                if (parts := urlsplit(origin)).scheme == "http" and parts.hostname in LOOPBACK_HOSTS
            }
            origins.update(f"http://{host}:{p}" for host in ("localhost", "127.0.0.1", "[::1]") for p in ports)
        return tuple(sorted(origins))


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower-cased and without a default port; None if it has none.

    Browsers send exactly this form in the `Origin` header."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > ORIGIN_MAX_LENGTH:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default_port) else "")


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (tests; `None` re-reads the environment on next use)."""
    global _settings
    _settings = settings
