"""Every tunable of the service, read from environment variables (and `.env` when present).

Defaults are the documented production defaults; `make run` turns demo mode on.
"""

from __future__ import annotations

import ipaddress
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import phonenumbers
import standardwebhooks
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from referral_app.core.net import UNIX_SOCKET_PEER
from referral_app.limits import (
    FAILURE_WINDOW_DAYS,
    INVITE_CODE_MAX_LENGTH,
    LOCK_MAX_SECONDS,
    ORIGIN_MAX_LENGTH,
    SECRET_KEY_MIN_LENGTH,
    WEBHOOK_URL_MAX_LENGTH,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"


LOG_SMS_SENDER = "referral_app.services.sms:LogSmsSender"
SMS_PROVIDER_NAMES = ("smsru", "smsc", "smsaero", "twilio", "http", "log", "custom")
# Secrets that may come from a file instead (`<NAME>_FILE`: a Docker or Kubernetes secret).
SMS_SECRET_FIELDS = (
    "sms_callback_secret",
    "smsru_api_id",
    "smsc_password",
    "smsc_api_key",
    "smsaero_api_key",
    "twilio_auth_token",
    "twilio_api_key_secret",
    "sms_http_password",
    "sms_http_bearer_token",
)


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
        default=LOG_SMS_SENDER,
        description="Import path of a custom SMS sender class (`custom` in SMS_PROVIDERS, or alone).",
    )
    web_otp_host: str = Field(
        default="",
        description="Host named in the SMS's last line `@<host> #<code>` (WebOTP: the browser on that host offers"
        " the code with one tap). Empty: the host of the app's own address (REFLEX_DEPLOY_URL), else localhost.",
    )
    reflex_deploy_url: str = Field(
        default="", description="The app's public address, as Reflex reads it (http://localhost:PORT when empty)."
    )
    sms_delay_min: float = Field(
        default=1.0, ge=0, description="Simulated SMS delivery delay of the log sender, lower bound (s)."
    )
    sms_delay_max: float = Field(
        default=2.0, ge=0, description="Simulated SMS delivery delay of the log sender, upper bound (s)."
    )
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

    # SMS providers (services/sms): an ordered list, the next one tried when one fails.
    sms_providers: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Built-in providers in failover order, comma-separated: smsru, smsc, smsaero, twilio, http, log"
        " (demo only), custom (the SMS_SENDER class). Empty: SMS_SENDER alone.",
    )
    sms_callback_base_url: str = Field(
        default="",
        description="The app's public https address as providers reach it (delivery receipts are posted to"
        " <this>/api/v1/sms/status/<provider>). Empty: no receipts are asked for.",
    )
    sms_callback_secret: str | None = Field(
        default=None, repr=False, description="The secret in receipt URLs of providers that do not sign them."
    )
    sms_callback_secret_file: Path | None = None
    sms_breaker_failures: int = Field(
        default=3, gt=0, description="Failures in a row after which a provider is skipped for the cool-off."
    )
    sms_breaker_cooldown_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a provider that kept failing is skipped before it is tried again.",
    )
    sms_status_poll_seconds: float = Field(
        default=20.0, gt=0, description="Interval of status queries to providers whose status is pulled."
    )
    sms_status_poll_attempts: int = Field(
        default=15, ge=0, description="Status queries per message at most (0: no polling)."
    )
    sms_status_polls_max: int = Field(
        default=1000, gt=0, description="Messages polled at once per process at most; more are not polled."
    )
    sms_max_spend_per_day: Decimal | None = Field(
        default=None, gt=0, description="Daily cap on what providers reported SMS cost, in SMS_SPEND_CURRENCY."
    )
    sms_spend_currency: str = Field(default="RUB", description="The currency SMS_MAX_SPEND_PER_DAY is in.")

    smsru_api_id: str | None = Field(default=None, repr=False)
    smsru_api_id_file: Path | None = None
    smsru_from: str = Field(
        default="", description="SMS.ru sender name (approved in the account); empty: default."
    )
    smsru_test: bool = Field(
        default=False, description="SMS.ru test=1: checked and answered, never sent or billed."
    )
    smsru_base_url: str = "https://sms.ru"

    smsc_login: str = ""
    smsc_password: str | None = Field(default=None, repr=False)
    smsc_password_file: Path | None = None
    smsc_api_key: str | None = Field(default=None, repr=False)
    smsc_api_key_file: Path | None = None
    smsc_sender: str = ""
    smsc_base_url: str = "https://smsc.ru"

    smsaero_email: str = ""
    smsaero_api_key: str | None = Field(default=None, repr=False)
    smsaero_api_key_file: Path | None = None
    smsaero_sign: str = Field(default="SMS Aero", description="SMS Aero sender name (sign).")
    smsaero_test: bool = Field(
        default=False, description="Use SMS Aero's sms/testsend: nothing is sent or billed."
    )
    smsaero_base_url: str = "https://gate.smsaero.ru/v2"

    twilio_account_sid: str = ""
    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_auth_token_file: Path | None = None
    twilio_api_key_sid: str = ""
    twilio_api_key_secret: str | None = Field(default=None, repr=False)
    twilio_api_key_secret_file: Path | None = None
    twilio_messaging_service_sid: str = ""
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"

    sms_http_url: str = Field(default="", description="Generic HTTP provider: the URL to call.")
    sms_http_method: str = "POST"
    sms_http_headers: Annotated[dict[str, str], NoDecode] = Field(
        default={}, description='Extra request headers as JSON: {"X-Api-Key": "..."}.'
    )
    sms_http_body: str = Field(
        default='{"to": "{phone}", "text": "{text}"}',
        description="Body template; {phone} (E.164) and {text} are filled in (JSON-escaped for json).",
    )
    sms_http_format: str = Field(default="json", pattern="^(json|form)$")
    sms_http_username: str = ""
    sms_http_password: str | None = Field(default=None, repr=False)
    sms_http_password_file: Path | None = None
    sms_http_bearer_token: str | None = Field(default=None, repr=False)
    sms_http_bearer_token_file: Path | None = None
    sms_http_id_field: str = Field(default="", description="Dotted path of the message id in a JSON answer.")

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

    # The operator's console
    admin_reauth_minutes: int = Field(
        default=15,
        gt=0,
        description="An operator's action needs a sign-in at most this old; else the console asks for a fresh code.",
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

    # Webhooks (services/webhooks.py)
    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default=[], description="Comma-separated http(s) URLs that receive the events (Standard Webhooks)."
    )
    webhook_secret: Annotated[list[str], NoDecode] = Field(
        default=[],
        repr=False,
        description="`whsec_...` secrets, comma-separated; every request carries a signature by each (several"
        " during a rotation). Required with WEBHOOK_URLS.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Deliver to loopback, private and link-local addresses too (development only).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="A request to an endpoint not answered by then has failed."
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
        "webhook_urls",
        "webhook_secret",
        "sms_providers",
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

    @field_validator("webhook_urls")
    @classmethod
    def _check_webhook_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > WEBHOOK_URL_MAX_LENGTH:
                raise ValueError(
                    f"WEBHOOK_URLS: not an http(s) URL of at most {WEBHOOK_URL_MAX_LENGTH} characters"
                )
        return list(dict.fromkeys(value))

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secrets(cls, value: list[str]) -> list[str]:
        for secret in value:
            if not secret.startswith("whsec_"):
                raise ValueError("WEBHOOK_SECRET: every secret starts with whsec_")
            try:
                standardwebhooks.Webhook(secret)
            except Exception:
                raise ValueError("WEBHOOK_SECRET: whsec_ followed by base64") from None
        return value

    @model_validator(mode="after")
    def _check_webhook_signing(self) -> Settings:
        if self.webhook_urls and not self.webhook_secret:
            raise ValueError("WEBHOOK_URLS needs WEBHOOK_SECRET (whsec_...) to sign with")
        return self

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

    @field_validator("sms_providers")
    @classmethod
    def _check_sms_providers(cls, value: list[str]) -> list[str]:
        names = [entry.lower() for entry in value]
        unknown = [name for name in names if name not in SMS_PROVIDER_NAMES]
        if unknown:
            raise ValueError(f"unknown SMS providers {unknown}; known: {', '.join(SMS_PROVIDER_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError("an SMS provider is listed twice")
        return names

    @field_validator("sms_http_headers", mode="before")
    @classmethod
    def _parse_headers(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) and value.strip() else ({} if value == "" else value)

    @model_validator(mode="after")
    def _read_sms_secret_files(self) -> Settings:
        for name in SMS_SECRET_FIELDS:
            path: Path | None = getattr(self, f"{name}_file")
            if path is None:
                continue
            if getattr(self, name):
                raise ValueError(f"set {name.upper()} or {name.upper()}_FILE, not both")
            try:
                setattr(self, name, path.read_text(encoding="utf-8").strip() or None)
            except (OSError, UnicodeError) as exc:
                raise ValueError(f"{name.upper()}_FILE {path} cannot be read: {exc}") from None
        return self

    @model_validator(mode="after")
    def _check_sms_provider_settings(self) -> Settings:
        missing = [
            f"{provider}: {needs}"
            for provider in self.sms_providers
            if (needs := _missing_provider_settings(self, provider))
        ]
        if missing:
            raise ValueError("SMS providers lack settings: " + "; ".join(missing))
        return self

    @property
    def simulates_sms(self) -> bool:
        """Only the log sender delivers: SMS_DELAY_* is waited, as a real gateway would take. Real providers
        take the time they take."""
        return self.sms_providers == ["log"] or (not self.sms_providers and self.sms_sender == LOG_SMS_SENDER)

    def log_sender_outside_demo(self) -> str | None:
        """Why the server must not start (the log sender, which writes every code to the log, outside demo
        mode), or None."""
        if self.demo_mode:
            return None
        logs = "log" in self.sms_providers or (not self.sms_providers and self.sms_sender == LOG_SMS_SENDER)
        if not logs:
            return None
        return (
            "the SMS sender is the log, which writes every login code to the server log. Outside demo mode"
            " configure a real provider with SMS_PROVIDERS (without `log`; see README, Going live) or a custom"
            " SMS_SENDER, or set DEMO_MODE=true on a machine of your own."
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


def _missing_provider_settings(s: Settings, provider: str) -> str | None:
    """What a listed provider still needs, as the variables to set; None when it has everything."""
    if provider == "smsru" and not s.smsru_api_id:
        return "SMSRU_API_ID"
    if provider == "smsc" and not (s.smsc_api_key or (s.smsc_login and s.smsc_password)):
        return "SMSC_API_KEY, or SMSC_LOGIN and SMSC_PASSWORD"
    if provider == "smsaero" and not (s.smsaero_email and s.smsaero_api_key):
        return "SMSAERO_EMAIL and SMSAERO_API_KEY"
    if provider == "twilio":
        needs = []
        if not s.twilio_account_sid:
            needs.append("TWILIO_ACCOUNT_SID")
        if not (s.twilio_auth_token or (s.twilio_api_key_sid and s.twilio_api_key_secret)):
            needs.append("TWILIO_AUTH_TOKEN, or TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET")
        if not (s.twilio_messaging_service_sid or s.twilio_from):
            needs.append("TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM")
        return ", ".join(needs) or None
    if provider == "http" and not s.sms_http_url:
        return "SMS_HTTP_URL"
    return None


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
