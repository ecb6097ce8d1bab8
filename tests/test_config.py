"""Settings: gateway.ini, GATEWAY_* overrides, and errors that name the file, section and key."""

from __future__ import annotations

import configparser
import dataclasses
from pathlib import Path

import pytest

from gateway import config
from tests.helpers import REPO, clean_env, run_gateway


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.ini"
    path.write_text(text)
    return path


def test_gateway_ini_documents_the_defaults():
    """Every section of gateway.ini equals the built-in defaults, so the two cannot drift apart."""
    loaded = config.load(REPO / "gateway.ini", environ={})
    defaults = config.Settings()
    for name in config.SECTIONS:
        section = getattr(loaded, name)
        if name == "server":
            assert section.data_dir == REPO / "var"
            section = dataclasses.replace(section, data_dir=defaults.server.data_dir)
        assert section == getattr(defaults, name), name
    assert loaded.providers == {}


def test_gateway_ini_names_every_key():
    """Each key of each section appears in gateway.ini, so the file is the full reference."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "gateway.ini")
    assert set(parser.sections()) == set(config.SECTIONS)
    for name, cls in config.SECTIONS.items():
        assert set(parser[name]) == {field.name for field in dataclasses.fields(cls)}, name


def test_environment_overrides_file(tmp_path):
    """GATEWAY_<SECTION>_<KEY> wins over the file; GATEWAY_DATABASE_URL is [postgres] url."""
    path = write(tmp_path, "[server]\nport = 9000\n[redis]\nprefix = a:\n")
    settings = config.load(path, environ={
        "GATEWAY_SERVER_PORT": "9090",
        "GATEWAY_DATABASE_URL": "postgresql://u@db.example:5432/gw",
        "GATEWAY_TRACKIER_API_KEY": "k-123",
    })
    assert settings.server.port == 9090
    assert settings.redis.prefix == "a:"
    assert settings.postgres.url == "postgresql://u@db.example:5432/gw"
    assert settings.trackier.api_key.reveal() == "k-123"
    assert "k-123" not in repr(settings)


def test_as_ini_round_trips_and_keeps_credentials_out_of_the_file(tmp_path):
    """A parent hands its settings to a child process as a file plus credential variables; the child reads
    back exactly the same settings."""
    provider = config.ProviderSettings(host="127.0.0.1", port=1080, scheme="socks5h", username="acct",
                                       username_template="u-{country}-{session}", password=config.Secret("p@ss"))
    settings = config.Settings(providers={"luna": provider}).replace(
        server__data_dir=tmp_path, server__drain_s=2.5, tracing__allow_private=True,
        admin__token=config.Secret("admin-secret"), trackier__api_key=config.Secret("key=1;x"))
    text, secrets = config.as_ini(settings)
    assert "p@ss" not in text and "admin-secret" not in text and "key=1;x" not in text
    assert secrets == {"GATEWAY_PROVIDER_LUNA_PASSWORD": "p@ss", "GATEWAY_ADMIN_TOKEN": "admin-secret",
                       "GATEWAY_TRACKIER_API_KEY": "key=1;x"}
    path = tmp_path / "child.ini"
    path.write_text(text)
    assert config.load(path, secrets) == dataclasses.replace(settings, source=str(path))


def test_relative_data_dir_is_relative_to_the_file(tmp_path):
    """A relative data_dir in a config file is resolved against that file's directory."""
    path = write(tmp_path, "[server]\ndata_dir = state\n")
    assert config.load(path, environ={}).server.data_dir == tmp_path / "state"


def test_provider_blocks_and_password_from_env(tmp_path):
    """[provider:NAME] blocks are parsed; the password comes from GATEWAY_PROVIDER_<NAME>_PASSWORD."""
    path = write(tmp_path, "[provider:luna]\nhost = pr.example\nport = 7000\nscheme = socks5h\n"
                           "username_template = user-{username}-region-{country}-sessid-{session}\n")
    settings = config.load(path, environ={"GATEWAY_PROVIDER_LUNA_PASSWORD": "s3cret"})
    luna = settings.providers["luna"]
    assert (luna.host, luna.port, luna.scheme) == ("pr.example", 7000, "socks5h")
    assert luna.password.reveal() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(("text", "environ", "expected"), [
    ("[server]\nport = 99999\n", {}, "[server] port: 99999 must be between 1 and 65535"),
    ("[server]\nport = http\n", {}, "[server] port: 'http' is not an integer"),
    ("[server]\nportt = 80\n", {}, "[server] portt: unknown key"),
    ("[serverr]\nport = 80\n", {}, "unknown section [serverr]"),
    ("[tracing]\nread_timeout_s = -1\n", {}, "[tracing] read_timeout_s: -1.0 must be greater than 0"),
    ("[redis]\nurl = http://localhost\n", {}, "[redis] url: 'http://localhost' must be a URL with scheme redis://"),
    ("[postgres]\nurl = postgresql://h:99x/db\n", {}, "[postgres] url: 'postgresql://h:99x/db' is not a valid URL"),
    ("[server]\naccess_log = perhaps\n", {}, "[server] access_log: 'perhaps' is not true or false"),
    ("[provider:acme]\nport = 7000\n", {}, "[provider:acme] host: '' is required"),
    ("", {"GATEWAY_SERVER_PORT": "0"}, "GATEWAY_SERVER_PORT (for [server] port): 0 must be between 1 and 65535"),
    ("", {"GATEWAY_POOL_COOLDOWN_S": "soon"},
     "GATEWAY_POOL_COOLDOWN_S (for [pool] cooldown_s): 'soon' is not a number"),
    ("", {"GATEWAY_REDIS_PORT": "1"}, "GATEWAY_REDIS_PORT (for [redis] port): unknown key"),
    ("[browser]\nblock = image, script\n", {}, "[browser] block: 'image, script' names 'script', which a trace"),
    ("[browser]\nworkers = -1\n", {}, "[browser] workers: -1 must be between 0 and 64"),
    ("", {"GATEWAY_NOPE": "1"}, "GATEWAY_NOPE: unknown setting"),
    ("", {"GATEWAY_PROVIDER_X_HOST": "h"}, "GATEWAY_PROVIDER_X_HOST: no [provider:NAME] section"),
    ("", {"GATEWAY_DATABASE_URL": "postgresql://a/x", "GATEWAY_POSTGRES_URL": "postgresql://b/y"},
     "both set [postgres] url"),
])
def test_bad_values_name_their_place(tmp_path, text, environ, expected):
    """A wrong value is refused with a message naming where it came from, the section and the key."""
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ=environ)
    assert expected in str(info.value)
    if not environ:
        assert str(path) in str(info.value)


def test_secret_values_are_not_echoed_in_errors(tmp_path):
    """A refused secret is described, never printed."""
    path = write(tmp_path, "[provider:acme]\nport = 7000\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={"GATEWAY_PROVIDER_ACME_PASSWORD": "hunter2"})
    assert "hunter2" not in str(info.value)


def test_cli_exits_2_on_a_bad_file(tmp_path):
    """`gateway --config bad.ini ...` exits 2 and names file, section and key on stderr."""
    path = write(tmp_path, "[server]\nport = 70000\n")
    result = run_gateway("--config", str(path), "migrate")
    assert result.returncode == 2
    assert f"{path}: [server] port: 70000 must be between 1 and 65535" in result.stderr


def test_cli_exits_2_on_a_bad_environment_variable(tmp_path):
    """A bad GATEWAY_* variable exits 2 naming the variable, section and key."""
    path = write(tmp_path, "")
    result = run_gateway("--config", str(path), "migrate", env=clean_env(GATEWAY_REDIS_URL="ftp://x"))
    assert result.returncode == 2
    assert "GATEWAY_REDIS_URL (for [redis] url)" in result.stderr


def test_cli_exits_2_on_a_missing_file(tmp_path):
    """Naming a config file that does not exist is a configuration error."""
    result = run_gateway("--config", str(tmp_path / "nope.ini"), "migrate")
    assert result.returncode == 2
    assert "config file not found" in result.stderr
