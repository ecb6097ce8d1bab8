"""Packaging: a wheel built from the tree, installed the ordinary way into a fresh virtual environment with no
checkout on its path, runs `gateway serve` and answers a click traced through a slot, its console and its
migrations. Every file the code reads beside itself (Lua scripts, SQL, templates, static files, gateway.ini) must be
in the wheel, or this fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import requests

from loadtest.processes import ServiceProcess
from tests.conftest import ADMIN_TOKEN
from tests.helpers import REPO, clean_env

DATA_FILES = ("store/queries.sql", "store/migrations/*.sql", "store/lua/*.lua", "gateway/gateway.ini",
              "gateway/console/views/*.tpl", "gateway/console/static/*")


def run(*argv: object, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def checkout(target: Path) -> Path:
    """The files git would check out (tracked and new ones it does not ignore), as they are now: a build from
    here sees no build/ or egg-info left by an earlier one."""
    listed = run("git", "-C", REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() or source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
    return target


def test_a_wheel_installed_in_a_fresh_venv_serves_clicks(tmp_path, chains, proxies):
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels,
        checkout(tmp_path / "src"))
    (wheel,) = wheels.glob("click_gateway-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    needed = {str(p.relative_to(REPO)) for pattern in DATA_FILES for p in REPO.glob(pattern)}
    assert needed and not needed - packaged, f"not in the wheel: {sorted(needed - packaged)}"

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    host, port = proxies["socks5"].address
    (tmp_path / "gateway.ini").write_text(
        f"[server]\ndata_dir = {tmp_path / 'var'}\n[tracing]\nallow_private = true\n[pool]\ncooldown_s = 0\n"
        f"[admin]\ntoken = {ADMIN_TOKEN}\n[provider:luna]\nhost = {host}\nport = {port}\nscheme = socks5h\n"
        "username = acct\nusername_template = user-{username}-region-{country}-sessid-{session}\n")
    env = clean_env(GATEWAY_CONFIG=str(tmp_path / "gateway.ini"), PYTHONPATH="",
                    GATEWAY_PROVIDER_LUNA_PASSWORD=proxies["socks5"].password)
    example = subprocess.run([venv / "bin" / "gateway", "example-config"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert example.returncode == 0 and "[ahead]" in example.stdout
    served = ServiceProcess([str(venv / "bin" / "gateway"), "serve", "--port", "0"], env, cwd=tmp_path)
    try:
        url = served.wait_listening(180)
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        provisioned = requests.post(f"{url}/api/pool/provision", json={"provider": "luna", "countries": {"us": 2}},
                                    headers=auth, timeout=30)
        assert provisioned.status_code == 200, provisioned.text
        offer = {"slug": "shop", "name": "Shop", "country": "us", "tracking_url": f"{chains.url()}/demo/start"}
        assert requests.post(f"{url}/api/offers", json=offer, headers=auth, timeout=30).status_code == 201
        click = requests.get(f"{url}/c/shop?gclid=G1", allow_redirects=False, timeout=30,
                             headers={"User-Agent": "Mozilla/5.0 Chrome/131"})
        landing = urlsplit(click.headers["Location"])
        traced = requests.get(f"{url}/api/traces", headers=auth, timeout=30).json()["traces"]
        assert click.status_code == 302 and landing.path == "/land", traced
        assert dict(parse_qsl(landing.query))["clickid"]
        assert requests.get(f"{url}/signin", timeout=30).status_code == 200
        assert "body" in requests.get(f"{url}/static/console.css", timeout=30).text
    finally:
        served.terminate(30)
    assert not any("Traceback" in line for line in served.log), served.output()
    assert str(REPO) not in served.output()
