"""deploy/compose.yaml says what the tested setup does (tests/ops runs deploy/Caddyfile in front of two serve.py
processes; no container engine here can pull Caddy's, PostgreSQL's or Redis's images): every variable it gives
the app is one the app reads, the values it derives from DOMAIN pass the app's own settings validation, Caddy's
address is the one proxy the app trusts, the metrics stay on loopback, and migrations run once before the app
servers start."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from referral_app.cli import parser
from referral_app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
# Read by serve.py, core/log_setup.py and Reflex, not by Settings.
PROCESS_VARIABLES = {
    "PORT",
    "HOST",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "GRANIAN_WORKERS",
    "REFLEX_REDIS_URL",
    "REFLEX_DEPLOY_URL",
}
# What an operator writes (README, "Deploy"); compose refuses to start without the first three.
OPERATOR_ENV = {
    "DOMAIN": "shop.example.com",
    "SECRET_KEY": "k" * 48,
    "POSTGRES_PASSWORD": "pw",
}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation of `${NAME}`, `${NAME:-default}` and `${NAME:?message}` (what the file uses)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise LookupError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return VARIABLE.sub(one, value)


def compose(env: dict[str, str]) -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), env)


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def app_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in config["services"].items() if name.startswith("app")}


def test_compose_refuses_to_start_without_what_the_operator_must_set() -> None:
    for missing in OPERATOR_ENV:
        with pytest.raises(LookupError, match=missing):
            compose({k: v for k, v in OPERATOR_ENV.items() if k != missing})


def test_every_variable_given_to_the_app_is_one_it_reads() -> None:
    """Settings ignores names it does not know, so a misspelt one would be dropped without a word."""
    config = compose(OPERATOR_ENV)
    known = setting_names() | PROCESS_VARIABLES
    for name in ("app1", "app2", "migrate"):
        unknown = set(config["services"][name]["environment"]) - known
        assert not unknown, f"{name}: the app reads no {sorted(unknown)}"


def test_the_app_settings_compose_derives_from_domain_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    config = compose(OPERATOR_ENV)
    environment = config["services"]["app1"]["environment"]
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.allowed_origins == ["https://shop.example.com"]
    assert environment["REFLEX_DEPLOY_URL"] == "https://shop.example.com"
    assert not settings.demo_mode
    assert settings.database_url.startswith("postgresql+psycopg://") and "@db:5432/" in settings.database_url
    assert settings.metrics_port == 9100


def test_caddy_is_the_one_proxy_the_app_trusts_on_the_internal_network() -> None:
    config = compose(OPERATOR_ENV)
    caddy = config["services"]["caddy"]
    address = caddy["networks"]["internal"]["ipv4_address"]
    subnet = ipaddress.ip_network(config["networks"]["internal"]["ipam"]["config"][0]["subnet"])
    assert ipaddress.ip_address(address) in subnet
    for name, service in app_services(config).items():
        assert service["environment"]["TRUSTED_PROXIES"] == address, name
    upstreams = caddy["environment"]["UPSTREAMS"].split()
    assert sorted(upstreams) == sorted(
        f"{name}:{service['environment']['PORT']}" for name, service in app_services(config).items()
    )
    assert len(upstreams) == 2
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert {"80:80", "443:443"} <= set(caddy["ports"])


def test_only_caddy_is_published_and_the_metrics_on_loopback_only() -> None:
    config = compose(OPERATOR_ENV)
    published = {name: service.get("ports", []) for name, service in config["services"].items()}
    for name in ("db", "redis", "migrate"):
        assert not published[name], name
    for name, service in app_services(config).items():
        [port] = service["ports"]
        host, _, container_port = port.split(":")
        assert host == "127.0.0.1", name
        assert container_port == service["environment"]["METRICS_PORT"], name
    assert len({service["ports"][0] for service in app_services(config).values()}) == 2


def test_migrations_run_once_before_the_app_servers() -> None:
    config = compose(OPERATOR_ENV)
    migrate = config["services"]["migrate"]
    command = migrate["command"]
    assert command[:3] == ["python", "-m", "referral_app.cli"]
    assert parser().parse_args(command[3:]).command == "migrate"
    assert migrate["restart"] == "no"
    for name, service in app_services(config).items():
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}, name
    assert migrate["depends_on"]["db"] == {"condition": "service_healthy"}
