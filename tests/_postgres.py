"""A throwaway Postgres server on loopback for the test session, from Debian's binaries.

`postgres_server` starts one cluster per session (initdb into a temporary folder,
`pg_ctl start` on a free loopback port, trust authentication, fsync off: it
holds nothing worth keeping) and stops it at the end. `postgres_url` gives each
test a fresh database on it, so thread ids never collide between tests.

Postgres refuses to run as root, so as root the server runs as the `postgres`
user Debian's package creates (or `nobody`). With no binaries the tests that
need them are skipped, except in CI (`CI=true`), where that is a failure:
`.ci/run` installs Debian's `postgresql`.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "find_postgres_bin", "postgres_server", "postgres_url"]

_counter = itertools.count()


def find_postgres_bin() -> Path | None:
    """The folder of the newest Postgres server binaries installed, or None."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name  # /usr/lib/postgresql/<version>/bin
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for folder in found:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A running throwaway Postgres cluster."""

    bin: Path
    """The folder of its binaries."""
    root: Path
    """The temporary folder holding its data, socket and log."""
    port: int
    """The loopback port it listens on."""
    user: str | None
    """The system user it runs as; None for the current one."""

    @property
    def admin_url(self) -> str:
        """A URL for its `postgres` database, as its superuser."""
        return self.url("postgres")

    def url(self, dbname: str) -> str:
        """A URL for one of its databases."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of its binaries as its user; raise with the output when it fails."""
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=60)
        if done.returncode:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}{tail}"
            )
        return done

    def start(self) -> None:
        """Make the cluster and start the server; returns once it accepts connections."""
        self.run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        # -w: pg_ctl itself waits until the server accepts connections.
        self.run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        """Stop the server at once and remove its files."""
        try:
            self.run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def stop_quietly(self) -> None:
        """`stop`, ignoring a server that is not running."""
        try:
            self.stop()
        except (RuntimeError, OSError, subprocess.SubprocessError):
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"mull_test_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.fail("Running as root, but there is no `postgres` or `nobody` user to run Postgres as")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_orphans(folder: Path, user: str | None) -> None:
    """Stop servers left by test sessions that were killed before their teardown."""
    for owner in Path(tempfile.gettempdir()).glob("mull-pg-*/owner"):
        root = owner.parent
        try:
            alive = _alive(int(owner.read_text()))
        except (OSError, ValueError):
            continue
        if not alive:
            PostgresServer(bin=folder, root=root, port=0, user=user).stop_quietly()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A Postgres server on loopback for the whole session."""
    folder = find_postgres_bin()
    if folder is None:
        reason = "no Postgres server binaries (apt-get install postgresql; .ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs the Postgres tests, but there are {reason}")
        pytest.skip(f"Postgres tests skipped: {reason}")
    user = _server_user()
    _stop_orphans(folder, user)
    root = Path(tempfile.mkdtemp(prefix="mull-pg-"))
    (root / "owner").write_text(str(os.getpid()))
    if user:
        # The server's own user must own its folder (and reach it: mkdtemp makes it 0700).
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bin=folder, root=root, port=_free_port(), user=user)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's Postgres server."""
    return postgres_server.create_database()
