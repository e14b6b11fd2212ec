"""Soak run with injected faults: two demo hosts on shared Redis and PostgreSQL, under load, while parts fail.

Many professionals do the ordinary scenario (password + TOTP login, reads of
their own panel of patients, small searches) and scrapers read every patient
they can, on both hosts; meanwhile, in turn:

- **redis**: Redis is killed (SIGKILL) and restarted after a few seconds. It
  runs with ``appendfsync always``, so a crash loses nothing it acknowledged
  (sessions, read counts): limits must hold across it;
- **kill**: host B is killed with SIGKILL while requests are in flight, and
  restarted on the same port;
- **disk**: host A's access-log disk fills up. Mounting a small file system needs
  privileges a CI job may not have, so the disk is the process's file-size limit
  (``RLIMIT_FSIZE``, set on the running server with ``prlimit``, lifted after):
  every write past 4 KiB into a file — the log's write-ahead log — fails, as on
  a full disk (SQLite sees ``EFBIG`` instead of ``ENOSPC``: an I/O error either way).
- **postgres**: PostgreSQL, which holds the accounts both hosts read, stops
  in ``immediate`` mode (no shutdown checkpoint, as in a crash) and restarts
  after a few seconds, recovering from its WAL.

Then it checks, and prints the figures:

- every 200 on a protected route has its served entries in the host's access log
  (per account and patient, through ``audit scope``'s ``breach_scope``) and every
  served entry its allowing decision entry; a 200 answered by host B less than
  ``UNACKNOWLEDGED_S`` before its SIGKILL may lack them (still queued, never
  acknowledged: docs/architecture.md) and is counted apart;
- no acknowledged entry is missing after a kill: the last committed entry read
  just before each SIGKILL is still there, unchanged, after the restart;
- no professional was served more distinct patients in an hour than the hard
  limit of their role, nor (none holds a security key) than the soft one;
- during a fault, a request that needed the failed part was answered 503 (never a
  200, never another 5xx); no 500 at any time;
- each server process's RSS is flat after warm-up;
- ``accessguard audit verify --witness`` passes on both hosts.

Exit status 1 when a check fails. ``--json`` prints the figures as one JSON object last.

    .venv/bin/python -m bench.soak [--minutes 30] [--professionals 24] [--fault-every 45] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp

from accessguard.audit.log_store import reading
from accessguard.audit.scope import breach_scope
from accessguard.audit.sealed_ids import PatientIdSealer
from accessguard.authn.accounts import open_accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.authn.sealing import Sealer
from accessguard.authn.totp import generate_secret
from accessguard.database import open_database
from accessguard.database.base import Transaction
from accessguard.demo.app import demo_witness
from accessguard.policy.policyset import DEFAULT_POLICY_DIR
from accessguard.settings import local_keys
from tests.demo_process import ACCESSGUARD, wait_for
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer, free_port

#: A 200 answered this shortly before its host's SIGKILL may still have been queued (commit window 20 ms; generous under load).
UNACKNOWLEDGED_S = 1.0
#: A host's full disk: writes past this many bytes into any file of the server fail (its witness; the fleet's log is in PostgreSQL).
DISK_BYTES = 4096
#: After a fault starts, the time the guard may take to notice it (the log writer's next commit).
NOTICE_S = 1.0
#: RSS may grow this much from warm-up to the end of a process's life (allocator slack, caches filling).
RSS_GROWTH_MB = 24.0
CAEN_NETWORK = "192.0.2."  # the demo geo database's Caen and Lille (RFC 5737): professionals work in Caen,
LILLE_NETWORK = "198.51.100."  # scrapers in Lille, so their reads do not spend the Caen network's shared budget
#: Records read from the Caen network a minute: under its shared-source soft limit (150), so ordinary work is not challenged.
NETWORK_RECORDS_PER_MINUTE = 100
#: Records an ordinary request reads on average: a read (1) or, one time in five, a search of 3.
RECORDS_PER_REQUEST = 0.8 * 1 + 0.2 * 3
ROLES = ("nurse", "doctor", "secretary")
ORGANISATIONS = ("chu-caen", "chu-lille", "ch-nantes")
SEARCHES = ("Mar", "Ber", "Dub")
PATIENTS = 1000


@dataclass(frozen=True)
class Professional:
    username: str
    password: str
    totp_secret: str
    role: str
    host_number: str  # of their X-Forwarded-For address (sent by the trusted proxy, loopback), in Caen or, for a scraper, Lille


@dataclass(frozen=True)
class Answer:
    started: float
    ended: float
    host: str
    who: str
    kind: str  # read, search, login
    status: int  # 0: no answer (connection refused or cut)
    problem: str  # a refusal's problem type, without its urn:accessguard:problem: prefix
    served: tuple[str, ...]
    with_session: bool


@dataclass
class Fault:
    kind: str
    hosts: tuple[str, ...]
    started: float
    repairing: float = 0.0  # the repair began (Redis restarting, the limit lifted): answers may be normal from here
    ended: float = 0.0  # repaired


class Host:
    """One ``accessguard demo`` process on a fixed port, restartable; its output copied to a log file."""

    def __init__(self, name: str, data_dir: Path, shared: tuple[str, ...], log: Path) -> None:
        self.name, self.data_dir, self.shared, self.log = name, data_dir, shared, log
        self.database = shared[shared.index("--database") + 1]  # the fleet's one access log lives there
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None
        self.up = False
        self.killed_at: list[float] = []
        self.rss: list[list[tuple[float, int]]] = []  # (time, kB) per incarnation

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        command = [ACCESSGUARD, "demo", "--port", port, "--data-dir", str(self.data_dir), *self.shared]
        self.process = process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._copy_output, args=(process,), daemon=True).start()  # a pipe is no file: no size limit

        def answering() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"host {self.name} exited {process.returncode}: see {self.log}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answering, f"host {self.name}", 120)
        self.rss.append([])
        self.up = True

    def _copy_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with self.log.open("ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()

    def kill(self) -> None:
        assert self.process is not None
        self.up = False
        self.process.kill()
        self.killed_at.append(time.time())
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the guard closes its log: everything queued is committed
            self.process.wait(timeout=60)

    def limit_files(self, limit: int) -> None:
        """The server's file-size limit (``RLIMIT_FSIZE``), its hard limit untouched so it can be lifted again."""
        assert self.process is not None
        _, hard = resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (min(limit, hard) if hard >= 0 else limit, hard))

    def sample_rss(self) -> None:
        if not self.up or self.process is None:
            return
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return
        kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        self.rss[-1].append((time.time(), kilobytes))

    def last_entry(self) -> tuple[int, bytes] | None:
        """The last acknowledged (committed) entry of the fleet's access log."""
        with fleet_log(self.database) as db:
            rows = db.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1")
        return (int(str(rows[0][0])), bytes(rows[0][1])) if rows else None  # type: ignore[arg-type]


@contextlib.contextmanager
def fleet_log(url: str) -> Iterator[Transaction]:
    """One snapshot of the fleet's access log in PostgreSQL, on a connection of its own."""
    database = open_database(url)
    try:
        with reading(database) as db:
            yield db
    finally:
        database.close()


def command(*args: str) -> str:
    done = subprocess.run([ACCESSGUARD, *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"accessguard {' '.join(args[:2])} failed: {done.stdout}{done.stderr}")
    return done.stdout


def add_professionals(database: str, data_dir: Path, count: int) -> list[Professional]:
    """The demo's professionals and ``count`` more made in the shared database, each on their own address."""
    listing = json.loads((data_dir / "demo-accounts.json").read_text())
    made = [(a["username"], a["password"], a["totp_secret"], a["role"]) for a in listing if a["role"] != "admin"]
    accounts = open_accounts(database)
    try:
        authenticators = Authenticators(accounts.database, Sealer(local_keys(data_dir)["encryption_key"]))
        for n in range(count):
            username, password, secret, role = f"pro.{n:03d}", f"soak-password-{n}", generate_secret(), ROLES[n % len(ROLES)]
            accounts.add(username, password, roles=(role,), organisation=ORGANISATIONS[n % len(ORGANISATIONS)])
            authenticators.add_totp(username, secret, label="soak", enrolled_via="soak", now=time.time())
            made.append((username, password, secret, role))
    finally:
        accounts.close()
    return [Professional(u, p, s, r, str(10 + i)) for i, (u, p, s, r) in enumerate(made)]


class Load:
    """The load generator: professionals and scrapers on both hosts, every answer recorded."""

    def __init__(self, hosts: list[Host], until: float, ordinary: int) -> None:
        self.hosts, self.until = hosts, until
        #: Mean pause between an ordinary professional's requests: at least 2 s, and the network's budget shared.
        self.pause_s = max(2.0, ordinary * 60 * RECORDS_PER_REQUEST / NETWORK_RECORDS_PER_MINUTE)
        self.answers: list[Answer] = []
        self.in_flight: collections.Counter[str] = collections.Counter()
        self._last_step: dict[str, int] = {}

    def _host(self) -> Host:
        up = [h for h in self.hosts if h.up]
        return random.choice(up or self.hosts)

    async def _request(self, client: httpx.AsyncClient, who: str, kind: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        host = self._host()
        started = time.time()
        self.in_flight[host.name] += 1
        try:
            response = await client.request(method, host.url + path, **kwargs)
            status, body = response.status_code, _json(response)
        except httpx.TransportError:
            status, body = 0, None
        finally:
            self.in_flight[host.name] -= 1
        served: tuple[str, ...] = ()
        if status == 200 and kind in ("read", "search") and isinstance(body, dict):
            served = (str(body.get("id")),) if kind == "read" else tuple(str(p["id"]) for p in body.get("patients", ()))
        with_session = "accessguard_session" in client.cookies
        problem = str(body.get("type", "")).rsplit(":", 1)[-1] if isinstance(body, dict) and status >= 400 else ""
        self.answers.append(Answer(started, time.time(), host.name, who, kind, status, problem, served, with_session))
        return status, body

    async def _log_in(self, client: httpx.AsyncClient, pro: Professional) -> None:
        """Password, then a TOTP code of a time step not used yet (a used one is refused, rightly)."""
        while time.time() < self.until:
            step = int(time.time() // 30)
            if self._last_step.get(pro.username) == step:
                await asyncio.sleep(30 - time.time() % 30 + 0.1)
                continue
            client.cookies.clear()
            status, _ = await self._request(
                client, pro.username, "login", "POST", "/login", json={"username": pro.username, "password": pro.password}
            )
            if status == 200:
                self._last_step[pro.username] = step
                code = pyotp.TOTP(pro.totp_secret).at(step * 30)
                status, _ = await self._request(client, pro.username, "login", "POST", "/accessguard/step-up/totp", json={"code": code})
                if status == 200:
                    return
            await asyncio.sleep(0.5)

    async def ordinary(self, pro: Professional) -> None:
        """Reads of a small panel of their own patients and a few small searches, at a human pace."""
        panel = [f"pat-{random.randrange(1, PATIENTS + 1):04d}" for _ in range(10)]
        async with _client(CAEN_NETWORK + pro.host_number) as client:
            await self._log_in(client, pro)
            while time.time() < self.until:
                if random.random() < 0.2:
                    status, body = await self._request(
                        client, pro.username, "search", "GET", f"/patients?q={random.choice(SEARCHES)}&limit=3"
                    )
                else:
                    status, body = await self._request(client, pro.username, "read", "GET", f"/patients/{random.choice(panel)}")
                if _session_lost(status, body):
                    await self._log_in(client, pro)
                await asyncio.sleep(random.uniform(0.5, 1.5) * self.pause_s if status else 0.2)

    async def scraper(self, pro: Professional) -> None:
        """Every patient in turn as fast as answers come, and the largest pages allowed without a security key."""
        async with _client(LILLE_NETWORK + pro.host_number) as client:
            await self._log_in(client, pro)
            n = random.randrange(PATIENTS)
            while time.time() < self.until:
                n += 1
                if n % 5 == 0:
                    path = f"/patients?q=&limit=20&offset={n % PATIENTS}"
                    status, body = await self._request(client, pro.username, "search", "GET", path)
                else:
                    status, body = await self._request(client, pro.username, "read", "GET", f"/patients/pat-{n % PATIENTS + 1:04d}")
                if _session_lost(status, body):
                    await self._log_in(client, pro)
                await asyncio.sleep(0.01 if status else 0.2)

    async def anonymous(self) -> None:
        """A scraper without an account: every answer must be a refusal."""
        async with _client(LILLE_NETWORK + "250") as client:
            n = 0
            while time.time() < self.until:
                n += 1
                status, _ = await self._request(client, "anonymous", "read", "GET", f"/patients/pat-{n % PATIENTS + 1:04d}")
                await asyncio.sleep(0.05 if status else 0.2)


def _client(address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=30, headers={"x-forwarded-for": address})


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _session_lost(status: int, body: Any) -> bool:
    return status == 401 and isinstance(body, dict) and str(body.get("type", "")).endswith(("invalid-session", "authentication-required"))


class Faults:
    """Redis crash, host B's SIGKILL and host A's full disk, in turn, each followed by a quiet spell."""

    def __init__(self, redis: RedisServer, postgres: PostgresServer, hosts: list[Host], load: Load) -> None:
        self.redis, self.postgres, self.hosts, self.load = redis, postgres, hosts, load
        self.faults: list[Fault] = []
        self.acknowledged: list[tuple[tuple[int, bytes] | None, Host]] = []

    async def run(self, first: float, every: float, until: float) -> None:
        kinds = ("redis", "disk", "postgres", "kill")  # the kill last: a restart takes longest
        await asyncio.sleep(max(0.0, first - time.time()))
        turn = 0
        while time.time() < until - 5:
            started = time.time()
            await getattr(self, "_" + kinds[turn % len(kinds)])()
            turn += 1
            await asyncio.sleep(max(1.0, every - (time.time() - started)))

    async def _redis(self) -> None:
        fault = Fault("redis", tuple(h.name for h in self.hosts), time.time())
        self.redis.kill()
        await asyncio.sleep(3)
        fault.repairing = time.time()
        await asyncio.to_thread(self.redis.start)
        fault.ended = time.time()
        self.faults.append(fault)

    async def _postgres(self) -> None:
        fault = Fault("postgres", tuple(h.name for h in self.hosts), time.time())
        await asyncio.to_thread(self.postgres.stop, "immediate")
        fault.started = time.time()  # stopped: from here on, nothing reaches it
        await asyncio.sleep(3)
        fault.repairing = time.time()
        await asyncio.to_thread(self.postgres.start)
        fault.ended = time.time()
        self.faults.append(fault)

    async def _kill(self) -> None:
        victim = self.hosts[1]
        deadline = time.time() + 5
        while self.load.in_flight[victim.name] == 0 and time.time() < deadline:  # mid-request
            await asyncio.sleep(0.001)
        before = victim.last_entry()
        fault = Fault("kill", (victim.name,), time.time())
        victim.kill()
        fault.repairing = time.time()
        self.acknowledged.append((before, victim))
        await asyncio.to_thread(victim.start)
        fault.ended = time.time()
        self.faults.append(fault)

    async def _disk(self) -> None:
        host = self.hosts[0]
        fault = Fault("disk", (host.name,), time.time())
        host.limit_files(DISK_BYTES)
        await asyncio.sleep(4)
        fault.repairing = time.time()
        host.limit_files(resource.RLIM_INFINITY)
        fault.ended = time.time()
        self.faults.append(fault)


async def sample(hosts: list[Host], until: float, loads: list[float]) -> None:
    while time.time() < until:
        for host in hosts:
            host.sample_rss()
        loads.append(os.getloadavg()[0])
        await asyncio.sleep(1.0)


def _limits() -> dict[str, dict[str, int]]:
    """Per role: the soft and hard 1-hour limits of distinct patients (policies/data.json)."""
    bulk = json.loads((DEFAULT_POLICY_DIR / "data.json").read_text())["accessguard"]["config"]["bulk_reads"]
    return {role: {"soft": v["soft"]["1h"], "hard": v["hard"]["1h"]} for role, v in bulk["roles"].items()}


def most_in_an_hour(reads: list[tuple[float, str]]) -> int:
    """The most distinct patients served within any hour."""
    reads.sort()
    window: collections.Counter[str] = collections.Counter()
    most, first = 0, 0
    for at, patient in reads:
        window[patient] += 1
        while reads[first][0] <= at - 3600:
            gone = reads[first][1]
            window[gone] -= 1
            if not window[gone]:
                del window[gone]
            first += 1
        most = max(most, len(window))
    return most


def check_entries(hosts: list[Host], answers: list[Answer], since: float) -> dict[str, int]:
    """Served 200s against the fleet's one access log: lost entries, excused ones (queued at a SIGKILL), served without a decision."""
    figures = {"entries_lost": 0, "unacknowledged_at_kill": 0, "allowed_without_decision": 0, "served_entries": 0}
    killed_at = {host.name: host.killed_at for host in hosts}
    sealer = PatientIdSealer(local_keys(hosts[0].data_dir)["pseudonym_key"])  # one fleet, one set of keys
    served = [a for a in answers if a.served]
    database = open_database(hosts[0].database)
    try:
        for who in {a.who for a in served}:
            logged = {e.patient: e.count for e in breach_scope(database, sealer, who, since - 1, time.time() + 1)}
            sent: dict[str, list[Answer]] = collections.defaultdict(list)
            for answer in (a for a in served if a.who == who):
                for patient in answer.served:
                    sent[patient].append(answer)
            for patient, given in sent.items():
                missing = len(given) - logged.get(patient, 0)
                if missing <= 0:
                    continue
                excused = sum(1 for a in given if any(0 <= k - a.ended <= UNACKNOWLEDGED_S for k in killed_at[a.host]))
                figures["unacknowledged_at_kill"] += min(missing, excused)
                figures["entries_lost"] += max(0, missing - excused)
        with reading(database) as db:
            figures["served_entries"] = int(str(db.execute("SELECT count(*) FROM entries WHERE kind = 'served'")[0][0]))
            figures["allowed_without_decision"] = int(
                str(
                    db.execute(
                        "SELECT count(*) FROM entries s WHERE s.kind = 'served' AND NOT EXISTS (SELECT 1 FROM entries d"
                        " WHERE d.kind = 'decision' AND d.decision_id = s.decision_id AND (d.detail::jsonb ->> 'outcome') = 'allow')"
                    )[0][0]
                )
            )
    finally:
        database.close()
    return figures


def check_faults(answers: list[Answer], faults: list[Fault]) -> dict[str, int]:
    """Answers during faults: 503 where the failed part was needed, never a 200 there, never a 500."""
    figures = {"refused_during_faults": 0, "wrong_during_faults": 0, "no_answer": 0}
    for answer in answers:
        figures["no_answer"] += answer.status == 0
        for fault in faults:
            if answer.host not in fault.hosts or not fault.started <= answer.started <= fault.ended:
                continue
            figures["refused_during_faults"] += answer.status == 503
            settled = answer.started >= fault.started + NOTICE_S and answer.ended <= fault.repairing
            # the access log lives in the fleet's PostgreSQL: a full disk on a host fills only its witness file, which
            # the guard tolerates for WITNESS_GRACE_S (longer than this fault), so no answer needs that disk
            needed = fault.kind in ("redis", "postgres") and (answer.with_session or answer.kind == "login")
            if settled and needed and answer.status not in (0, 503):
                figures["wrong_during_faults"] += 1
                print(f"wrong answer during {fault.kind}: {answer}", file=sys.stderr)
    return figures


def check_rss(hosts: list[Host]) -> tuple[float, list[str]]:
    """Largest growth (MB) from warm-up (second quarter of a process's life) to its last quarter."""
    growths, notes = [], []
    for host in hosts:
        for incarnation, samples in enumerate(host.rss):
            if len(samples) < 8:
                continue
            quarter = len(samples) // 4
            warm = statistics.median(kb for _, kb in samples[quarter : 2 * quarter])
            last = statistics.median(kb for _, kb in samples[-quarter:])
            growth = (last - warm) / 1024
            growths.append(growth)
            notes.append(f"{host.name}#{incarnation}: {warm / 1024:.0f} → {last / 1024:.0f} MB over {len(samples)} s")
    return max(growths, default=0.0), notes


def verify(host: Host) -> bool:
    witness = demo_witness(host.data_dir)
    done = subprocess.run(
        [ACCESSGUARD, "audit", "verify", "--data-dir", str(host.data_dir), "--database", host.database, "--witness", str(witness)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        print(f"audit verify failed on host {host.name}: {done.stdout}{done.stderr}", file=sys.stderr)
    return done.returncode == 0


@dataclass
class Cluster:
    directory: Path
    postgres: PostgresServer
    redis: RedisServer
    hosts: list[Host] = field(default_factory=list)


def start_cluster(directory: Path) -> Cluster:
    postgres = PostgresServer().start()
    redis = RedisServer(directory / "redis", appendfsync="always").start()
    cluster = Cluster(directory, postgres, redis)
    command("db", "upgrade", "--database", postgres.url)
    shared = ("--database", postgres.url, "--store", f"{redis.url}?socket_timeout=5")
    for name in ("a", "b"):
        data_dir = directory / f"host-{name}"
        data_dir.mkdir()
        if cluster.hosts:  # one fleet, one set of keys
            shutil.copy(cluster.hosts[0].data_dir / "keys.json", data_dir / "keys.json")
        host = Host(name, data_dir, shared, directory / f"host-{name}.log")
        host.start()
        cluster.hosts.append(host)
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    for host in cluster.hosts:
        host.stop()
    cluster.redis.stop()
    cluster.postgres.remove()


async def drive(
    cluster: Cluster, professionals: list[Professional], scrapers: int, seconds: float, every: float
) -> tuple[Load, Faults, list[float]]:
    until = time.time() + seconds
    load = Load(cluster.hosts, until, len(professionals) - scrapers)
    faults = Faults(cluster.redis, cluster.postgres, cluster.hosts, load)
    loads: list[float] = []
    tasks = [load.scraper(p) for p in professionals[:scrapers]] + [load.ordinary(p) for p in professionals[scrapers:]]
    warm_up = min(every, seconds * 0.2)
    await asyncio.gather(*tasks, load.anonymous(), faults.run(time.time() + warm_up, every, until), sample(cluster.hosts, until, loads))
    return load, faults, loads


def soak(minutes: float, professionals: int, scrapers: int, every: float, keep: bool) -> tuple[dict[str, Any], list[str]]:
    directory = Path(tempfile.mkdtemp(prefix="accessguard-soak-"))
    cluster = start_cluster(directory)
    try:
        pros = add_professionals(cluster.postgres.url, cluster.hosts[0].data_dir, professionals)
        started = time.time()
        load, faults, loads = asyncio.run(drive(cluster, pros, scrapers, minutes * 60, every))
        duration = time.time() - started
        for host in cluster.hosts:
            if not host.up:
                host.start()
        time.sleep(UNACKNOWLEDGED_S)
        for host in cluster.hosts:
            host.stop()
        failures: list[str] = []
        acknowledged_lost = 0
        for before, host in faults.acknowledged:
            if before is not None:
                with fleet_log(host.database) as db:
                    rows = db.execute("SELECT hash FROM entries WHERE seq = ?", (before[0],))
                acknowledged_lost += not rows or bytes(rows[0][0]) != before[1]  # type: ignore[arg-type]
        answers = load.answers
        entries = check_entries(cluster.hosts, answers, started)
        during = check_faults(answers, faults.faults)
        limits = _limits()
        over_hard = over_soft = 0
        for pro in pros:
            most = most_in_an_hour([(a.ended, p) for a in answers if a.who == pro.username for p in a.served])
            over_hard += most > limits[pro.role]["hard"]
            over_soft += most > limits[pro.role]["soft"]
        rss_growth, rss_notes = check_rss(cluster.hosts)
        verified = all(verify(h) for h in cluster.hosts)
        statuses = collections.Counter(a.status for a in answers)
        figures: dict[str, Any] = {
            "duration_s": round(duration),
            "machine_cores": os.cpu_count(),
            "load_average": round(statistics.mean(loads), 2) if loads else None,
            "professionals": len(pros),
            "scrapers": scrapers,
            "requests": len(answers),
            "requests_served": statuses[200],
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "refusals": dict(collections.Counter(f"{a.kind} {a.status} {a.problem}" for a in answers if a.status != 200).most_common()),
            "faults_injected": len(faults.faults),
            "faults": dict(collections.Counter(f.kind for f in faults.faults)),
            **during,
            **entries,
            "acknowledged_lost_after_kill": acknowledged_lost,
            "over_hard_limit": over_hard,
            "over_soft_limit_without_key": over_soft,
            "server_errors": sum(v for k, v in statuses.items() if k >= 500 and k != 503),
            "rss_growth_mb": round(rss_growth, 1),
            "rss": rss_notes,
            "audit_verify": verified,
        }
        checks = {
            "entries lost": figures["entries_lost"] == 0,
            "acknowledged entries lost after a kill": acknowledged_lost == 0,
            "served without an allowing decision": figures["allowed_without_decision"] == 0,
            "answers other than 503 during a fault": figures["wrong_during_faults"] == 0,
            "5xx other than 503": figures["server_errors"] == 0,
            "hard limit exceeded": over_hard == 0,
            "soft limit exceeded without a security key": over_soft == 0,
            f"RSS grew more than {RSS_GROWTH_MB} MB after warm-up": rss_growth <= RSS_GROWTH_MB,
            "audit verify": verified,
            "every kind of fault injected": {f.kind for f in faults.faults} == {"redis", "kill", "disk", "postgres"},
        }
        failures.extend(name for name, ok in checks.items() if not ok)
        return figures, failures
    finally:
        stop_cluster(cluster)
        if keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def report(figures: dict[str, Any], failures: list[str]) -> None:
    print(f"soak: {figures['duration_s']} s on {figures['machine_cores']} cores, load average {figures['load_average']}")
    print(f"  requests served (200)        {figures['requests_served']} of {figures['requests']}  {figures['statuses']}")
    print(f"  refusals                     {figures['refusals']}")
    print(f"  faults injected              {figures['faults_injected']}  {figures['faults']}")
    print(f"  refused during faults (503)  {figures['refused_during_faults']}")
    print(f"  wrong answers during faults  {figures['wrong_during_faults']}")
    print(f"  entries lost                 {figures['entries_lost']}  (unacknowledged at a SIGKILL: {figures['unacknowledged_at_kill']})")
    print(f"  acknowledged lost at kills   {figures['acknowledged_lost_after_kill']}")
    print(f"  allowed without decision     {figures['allowed_without_decision']}")
    print(f"  over hard / soft limit       {figures['over_hard_limit']} / {figures['over_soft_limit_without_key']}")
    print(f"  RSS growth after warm-up     {figures['rss_growth_mb']} MB  ({'; '.join(figures['rss'])})")
    print(f"  audit verify                 {'passed' if figures['audit_verify'] else 'FAILED'}")
    print("FAILED: " + ", ".join(failures) if failures else "all checks passed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--professionals", type=int, default=24, help="accounts made besides the demo's (default: %(default)s)")
    parser.add_argument("--scrapers", type=int, default=3, help="professionals who scrape (default: %(default)s)")
    parser.add_argument("--fault-every", type=float, default=45.0, metavar="SECONDS", help="(default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and server logs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures, failures = soak(args.minutes, args.professionals, args.scrapers, args.fault_every, args.keep)
    report(figures, failures)
    if args.json:
        print(json.dumps({**figures, "failures": failures}))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
