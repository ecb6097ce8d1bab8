"""Test helpers: database URLs, and a real `gateway serve` process driven from a test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

from loadtest.processes import ServiceProcess

REPO = Path(__file__).resolve().parent.parent


def database_url_for(url: str, database: str) -> str:
    """`url` with its database name replaced."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any GATEWAY_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


def gateway_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


def run_gateway(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run one `gateway` CLI command to completion, capturing its output."""
    return subprocess.run(gateway_command(*args), env=dict(env or clean_env()), cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


class GatewayProcess(ServiceProcess):
    """`gateway serve --port 0` in a child process; `url` comes from its own "listening on" log line."""

    def __init__(self, *args: str, env: Mapping[str, str], cwd: Path | None = None) -> None:
        super().__init__(gateway_command(*args, "serve", "--port", "0"), env, cwd or REPO)


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """The redis-server and postgres processes (postmaster and its children) serving `data_dir`."""
    found = []
    marker = str(data_dir.resolve())
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("redis-server", "postgres") and marker in cmdline:
            found.append(proc)
            found.extend(proc.children(recursive=True))
    return found


def cli_env(settings, tmp_path: Path) -> dict[str, str]:
    """Environment (and a config file) making a `gateway` child process use a test's stores, key prefix,
    data dir and providers."""
    blocks = []
    for name, provider in settings.providers.items():
        blocks.append(f"[provider:{name}]\nhost = {provider.host}\nport = {provider.port}\n"
                      f"scheme = {provider.scheme}\nusername = {provider.username}\n"
                      f"username_template = {provider.username_template}\n"
                      f"password_template = {provider.password_template}\n")
    config = tmp_path / "cli.ini"
    config.write_text("\n".join(blocks))
    env = clean_env(GATEWAY_CONFIG=str(config), GATEWAY_REDIS_URL=settings.redis.url,
                    GATEWAY_REDIS_PREFIX=settings.redis.prefix, GATEWAY_DATABASE_URL=settings.postgres.url,
                    GATEWAY_SERVER_DATA_DIR=str(settings.server.data_dir),
                    GATEWAY_ADMIN_TOKEN=settings.admin.token.reveal())
    for name, provider in settings.providers.items():
        env[f"GATEWAY_PROVIDER_{name.upper()}_PASSWORD"] = provider.password.reveal()
    return env
