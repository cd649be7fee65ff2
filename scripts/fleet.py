"""`make serve`: the production shape on this machine, started and stopped by this one script.

    python -m scripts.fleet run     # in the foreground; Ctrl-C or SIGTERM stops everything
    python -m scripts.fleet start   # the same in the background (`make serve-start`)
    python -m scripts.fleet stop    # stops a background start (`make serve-stop`)

What runs, in this order (docs/deployment.md describes the same on real machines):

1. PostgreSQL (Debian's binaries, `PG_BIN`), its own data directory `var/fleet/pg` and port
   (`FLEET_PG_PORT`, 55432), never the tests' 54329;
2. PgBouncer in transaction pooling mode in front of it (`FLEET_PGBOUNCER_PORT`, 64320);
3. Redis (`FLEET_REDIS_PORT`, 63800): realtime events and rate limits shared by the processes;
4. the migrations (straight to PostgreSQL), then the demo data (`FLEET_DEMO=0`: none);
5. `WEB_CONCURRENCY` API processes (default 2) through `python -m scripts.serve --workers N`
   on `HOST`:`PORT` (127.0.0.1:8000), reaching PostgreSQL through PgBouncer
   (`DATABASE_POOLER=transaction`);
6. `FLEET_JOB_WORKERS` job workers (default 1, `python -m jobs.worker`), whose queue connection
   goes straight to PostgreSQL (`JOBS_DATABASE_URL`: procrastinate LISTENs for new jobs).

Stopping goes the other way: the API and the workers get SIGTERM first, then PgBouncer, Redis
and PostgreSQL (`pg_ctl stop -m fast`). Logs go to `var/fleet/*.log` (mail, without SMTP_URL,
is printed in `api.log` and `worker.log`). The data stays in `var/fleet/pg` between runs;
remove `var/fleet` for a fresh start. PostgreSQL and PgBouncer refuse to run as root: as root,
they run as the system user `relleks-ci` (as `scripts/services.sh` does).

`start_pgbouncer` is also what `tests/fleet/test_pgbouncer.py` runs in front of the tests'
PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVICE_USER = "relleks-ci"
"""Who runs PostgreSQL and PgBouncer when this runs as root (both refuse root)."""
DATABASE = "relleks"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass
class Fleet:
    """Where each part lives and listens; from the environment with `from_env`."""

    state: Path
    host: str = "127.0.0.1"
    port: int = 8000
    pg_port: int = 55432
    pgbouncer_port: int = 64320
    redis_port: int = 63800
    web_concurrency: int = 2
    job_workers: int = 1
    demo: bool = True
    demo_text: str = ""
    """What `scripts.load_demo` printed: who to sign in as."""
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Fleet:
        return cls(state=Path(os.environ.get("FLEET_DIR", ROOT / "var" / "fleet")).resolve(),
                   host=os.environ.get("HOST", "127.0.0.1"),
                   port=_env_int("PORT", 8000),
                   pg_port=_env_int("FLEET_PG_PORT", 55432),
                   pgbouncer_port=_env_int("FLEET_PGBOUNCER_PORT", 64320),
                   redis_port=_env_int("FLEET_REDIS_PORT", 63800),
                   web_concurrency=_env_int("WEB_CONCURRENCY", 2),
                   job_workers=_env_int("FLEET_JOB_WORKERS", 1),
                   demo=os.environ.get("FLEET_DEMO", "1").strip().lower()
                   not in {"0", "false", "no", "off"})

    @property
    def direct_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/{DATABASE}"

    @property
    def pooled_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pgbouncer_port}/{DATABASE}"

    def environment(self) -> dict[str, str]:
        """The API's and the workers' environment: the caller's, with the fleet's connections."""
        return {**os.environ,
                "DATABASE_URL": self.pooled_url,
                "DATABASE_POOLER": "transaction",
                "JOBS_DATABASE_URL": self.direct_url,
                "KEYSTORE_URL": f"postgres://postgres@127.0.0.1:{self.pgbouncer_port}/"
                                f"{DATABASE}_keystore",
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "PROMETHEUS_MULTIPROC_DIR": str(self.state / "metrics"),
                "JOBS_IN_PROCESS": "false",
                "HOST": self.host, "PORT": str(self.port)}

    def spawn(self, name: str, command: list[str], *, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        """A child in a session of its own (Ctrl-C reaches this script only, which stops the
        children in order), its output appended to `<name>.log`."""
        with (self.state / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,  # noqa: S603
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((name, process))
        return process

    # The parts, in the order they start.

    def start_postgres(self) -> None:
        pgdata = self.state / "pg"
        if not (PG_BIN / "initdb").exists():
            raise SystemExit(f"fleet: no PostgreSQL binaries in {PG_BIN} (set PG_BIN, or run "
                             "`make services` once, which installs postgresql-15)")
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(parents=True, exist_ok=True)
            _give(pgdata)
            _run(_as_service([str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", "postgres",
                              "--auth=trust", "--no-sync", "-E", "UTF8"]))
        _free(self.pg_port, "FLEET_PG_PORT")
        log = self.state / "pg.log"
        log.touch()
        _give(log)
        _run(_as_service([str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "-o",
                          f"-c listen_addresses=127.0.0.1 -p {self.pg_port} "
                          "-c unix_socket_directories='' -c max_connections=200",
                          "start"]))

    def stop_postgres(self) -> None:
        pgdata = self.state / "pg"
        if (pgdata / "postmaster.pid").exists():
            subprocess.run(_as_service([str(PG_BIN / "pg_ctl"), "-D", str(pgdata),  # noqa: S603
                                        "-w",
                                        "-m", "fast", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def start_redis(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("fleet: no redis-server (run `make services` once, which installs "
                             "it, or apt-get install redis-server)")
        _free(self.redis_port, "FLEET_REDIS_PORT")
        self.spawn("redis", [server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"])
        _wait_port(self.redis_port, "redis", self.state / "redis.log")

    def migrate(self) -> None:
        pooled = {key: value for key, value in self.environment().items()
                  if key != "PROMETHEUS_MULTIPROC_DIR"}
        env = {**pooled, "DATABASE_URL": self.direct_url,
               "DATABASE_POOLER": "session",
               "KEYSTORE_URL": f"{self.direct_url}_keystore"}
        _run([sys.executable, "-c", "import asyncio, database; "
              f"asyncio.run(database.create_postgres_database({self.direct_url!r}))"], env=env)
        _run([sys.executable, "-m", "scripts.migrate"], env=env)
        if self.demo:
            self.demo_text = _run([sys.executable, "-m", "scripts.load_demo"], env=pooled)

    def start_api(self) -> None:
        _free(self.port, "PORT")
        self.spawn("api", [sys.executable, "-m", "scripts.serve", "--host", self.host,
                           "--port", str(self.port), "--workers", str(self.web_concurrency)],
                   env=self.environment())
        _wait_http(f"http://127.0.0.1:{self.port}/healthz", self.state / "api.log",
                   self.processes[-1][1])

    def start_workers(self) -> None:
        for number in range(self.job_workers):
            self.spawn(f"worker-{number + 1}", [sys.executable, "-m", "jobs.worker"],
                       env=self.environment())

    def up(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        _give(self.state, recursive=False)
        self.start_postgres()
        bouncer = start_pgbouncer(self.state / "pgbouncer", self.pgbouncer_port, self.pg_port)
        self.processes.append(("pgbouncer", bouncer))
        self.start_redis()
        self.migrate()
        metrics = self.state / "metrics"  # every process's metrics, summed by a scrape
        shutil.rmtree(metrics, ignore_errors=True)  # old files would count in the sums
        metrics.mkdir()
        self.start_workers()
        self.start_api()
        for name, process in self.processes:
            if process.poll() is not None:
                raise SystemExit(f"fleet: {name} exited with {process.returncode}; see "
                                 f"{self.state / (name + '.log')}")

    def down(self) -> None:
        """SIGTERM to the API and the workers first (they finish what they are doing), then
        the rest; anything still there after 30 s is killed."""
        infrastructure = {"pgbouncer", "redis"}
        apps = [process for name, process in self.processes if name not in infrastructure]
        rest = [process for name, process in self.processes if name in infrastructure]
        for group in (apps, rest):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)  # its session: ours
                    process.wait()
        self.processes.clear()
        self.stop_postgres()

    def banner(self) -> str:
        return "\n".join([
            f"Relleks API: http://{_shown(self.host)}:{self.port}/graphql "
            f"({self.web_concurrency} API processes)",
            f"  PgBouncer (transaction pooling) 127.0.0.1:{self.pgbouncer_port} -> PostgreSQL "
            f"127.0.0.1:{self.pg_port}, database {DATABASE}",
            f"  Redis 127.0.0.1:{self.redis_port}; {self.job_workers} job worker(s)",
            f"  logs and data in {self.state}",
            *(f"  {line}" for line in self.demo_text.splitlines()),
        ])


def _shown(host: str) -> str:
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104


# PgBouncer, also for the tests.

def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer",) if os.access(path, os.X_OK)), None)


def pgbouncer_config(directory: Path, listen_port: int, server_port: int, *,
                     server_host: str = "127.0.0.1", pool_size: int = 20) -> Path:
    """Write `pgbouncer.ini` (transaction pooling, every database of the server, trust on
    loopback like the PostgreSQL behind it) and its user list into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    users = directory / "userlist.txt"
    users.write_text('"postgres" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text("\n".join([
        "[databases]",
        f"* = host={server_host} port={server_port}",
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {listen_port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {users}",
        "pool_mode = transaction",
        f"default_pool_size = {pool_size}",
        "max_client_conn = 1000",
        # asyncpg and psycopg send no other start-up parameter than these.
        "ignore_startup_parameters = extra_float_digits",
        "admin_users = postgres",
        "",
    ]))
    _give(directory)
    return ini


def start_pgbouncer(directory: Path, listen_port: int, server_port: int, *,
                    server_host: str = "127.0.0.1", pool_size: int = 20
                    ) -> subprocess.Popen[bytes]:
    """PgBouncer in the foreground (a child of the caller, in a session of its own) with
    `pgbouncer_config`, its log in `directory/pgbouncer.log`; returns once it accepts
    connections. Stop it with SIGTERM (`process.terminate()`)."""
    binary = pgbouncer_binary()
    if binary is None:
        raise SystemExit("fleet: no pgbouncer: run `make pgbouncer` (scripts/pgbouncer.sh)")
    _free(listen_port, "the PgBouncer port")
    ini = pgbouncer_config(directory, listen_port, server_port, server_host=server_host,
                           pool_size=pool_size)
    command = [binary]
    if os.geteuid() == 0:
        _service_user()
        command += ["-u", SERVICE_USER]
    log = directory / "pgbouncer.log"
    with log.open("ab") as out:
        process = subprocess.Popen([*command, str(ini)], cwd=directory,  # noqa: S603
                                   stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_port(listen_port, "pgbouncer", log, process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


# Helpers.

def _service_user() -> None:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
              SERVICE_USER])


def _as_service(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    _service_user()
    return ["runuser", "-u", SERVICE_USER, "--", *command]


def _give(path: Path, *, recursive: bool = True) -> None:
    """As root, hand `path` to the service user (PostgreSQL and PgBouncer write there)."""
    if os.geteuid() != 0:
        return
    _service_user()
    user = pwd.getpwnam(SERVICE_USER)
    paths = [path, *(path.rglob("*") if recursive and path.is_dir() else ())]
    for one in paths:
        os.chown(one, user.pw_uid, user.pw_gid)


def _run(command: list[str], *, env: dict[str, str] | None = None) -> str:
    """Run `command` to its end; its standard output, or SystemExit with its output."""
    result = subprocess.run(command, cwd=ROOT, env=env,  # noqa: S603 (our own commands)
                            capture_output=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")[-3000:]
        raise SystemExit(f"fleet: {' '.join(command[:3])} ... failed:\n{output}")
    return result.stdout.decode(errors="replace")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free(port: int, name: str) -> None:
    if _listening(port):
        raise SystemExit(f"fleet: port {port} ({name}) is taken: stop what listens there, or "
                         "choose another (FLEET_PG_PORT, FLEET_PGBOUNCER_PORT, FLEET_REDIS_PORT, "
                         "PORT)")


def _wait_port(port: int, name: str, log: Path,
               process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 30
    while not _listening(port):
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise SystemExit(f"fleet: {name} did not start on port {port}:\n{tail}")
        time.sleep(0.1)


def _wait_http(url: str, log: Path, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise SystemExit(f"fleet: the API did not come up at {url}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)


@contextlib.contextmanager
def _stopping_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (also where SIGINT was ignored, as in
    a background job of a shell), so one path stops all."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {one: signal.signal(one, interrupt)
                for one in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for one, handler in previous.items():
            signal.signal(one, handler)


def run(fleet: Fleet) -> int:
    ready = fleet.state / "ready"
    with _stopping_on_signals():
        try:
            ready.unlink(missing_ok=True)
            fleet.up()
            print(fleet.banner(), flush=True)
            print("Ctrl-C stops everything.", flush=True)
            ready.write_text(fleet.banner() + "\n")
            while True:
                for name, process in fleet.processes:
                    if process.poll() is not None:
                        print(f"fleet: {name} exited with {process.returncode}; stopping "
                              f"everything (see {fleet.state / (name + '.log')})", flush=True)
                        return 1
                time.sleep(1)
        except KeyboardInterrupt:
            print("fleet: stopping", flush=True)
            return 0
        finally:
            for one in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(one, signal.SIG_IGN)  # a second Ctrl-C cannot cut stopping short
            ready.unlink(missing_ok=True)
            fleet.down()
            print("fleet: stopped", flush=True)


def start(fleet: Fleet) -> int:
    """`run` in the background: returns once everything is up (its pid in `fleet.pid`)."""
    fleet.state.mkdir(parents=True, exist_ok=True)
    pidfile, ready = fleet.state / "fleet.pid", fleet.state / "ready"
    if pidfile.exists() and _alive(int(pidfile.read_text())):
        print(f"fleet: already running (pid {pidfile.read_text().strip()}); "
              "`make serve-stop` stops it")
        return 1
    ready.unlink(missing_ok=True)
    with (fleet.state / "fleet.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "scripts.fleet", "run"], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    pidfile.write_text(f"{process.pid}\n")
    while not ready.exists():
        if process.poll() is not None:
            pidfile.unlink(missing_ok=True)
            tail = (fleet.state / "fleet.log").read_text(errors="replace")[-3000:]
            print(f"fleet: did not start:\n{tail}")
            return 1
        time.sleep(0.3)
    print(ready.read_text(), end="")
    print("`make serve-stop` stops it.")
    return 0


def stop(fleet: Fleet) -> int:
    pidfile = fleet.state / "fleet.pid"
    if not pidfile.exists():
        print("fleet: not running (no var/fleet/fleet.pid)")
        return 0
    pid = int(pidfile.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
    pidfile.unlink(missing_ok=True)
    print("fleet: stopped" if not _alive(pid) else f"fleet: pid {pid} still running")
    return 0 if not _alive(pid) else 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.fleet",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "start", "stop"], nargs="?", default="run")
    args = parser.parse_args(argv)
    fleet = Fleet.from_env()
    return {"run": run, "start": start, "stop": stop}[args.command](fleet)


if __name__ == "__main__":
    sys.exit(main())
