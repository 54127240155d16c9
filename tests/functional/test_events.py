"""Events on real stores (a SQLite file and a PostgreSQL server), across processes:
the full life cycle in order, two watcher processes, three claiming worker processes,
signed webhooks to a real loopback HTTP server, a failing server, a killed delivery
worker, the command line.

Child processes are stopped by their PID (``Popen.kill``), HTTP servers shut down and
temporary directories removed also when a test fails.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import volumelib
from tests.functional.dbfixtures import pg_server, pg_url  # noqa: F401
from tests.helpers import requires_root, requires_tool
from volumelib import exceptions as exc
from volumelib.control.delivery import DeliveryWorker
from volumelib.persistence.dbms.store import DBPersistence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOLUMELIB = [sys.executable, "-m", "volumelib.cli.main"]


# -- fixtures and helpers -------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh store: a SQLite file, then a database on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(url: str) -> Iterator[DBPersistence]:
    """The store at ``url``, current in this process for the test."""
    previous = volumelib.get_persistence()
    opened = DBPersistence(url)
    volumelib.setup(persistence_config=opened)
    try:
        yield opened
    finally:
        volumelib.setup(persistence_config=previous)
        opened.close()


@pytest.fixture
def fake(store: DBPersistence) -> Iterator[volumelib.Backend]:
    backend = volumelib.Backend(volume_backend_name="ev", volume_driver="fake")
    yield backend
    backend.close()


@pytest.fixture
def config(tmp_path: Any, url: str) -> str:
    """A CLI config file naming the store."""
    path = tmp_path / "volumelib.yaml"
    path.write_text(f"persistence_config:\n  storage: db\n  connection: '{url}'\n")
    return str(path)


class Children:
    """Child processes of a test, killed by PID at the end whatever happened.

    A child's stderr goes to a file, not a pipe: a child logging while the test
    waits on something else (a row it holds, an event it should deliver) would
    otherwise block on a full pipe, holding what the test waits for.
    """

    def __init__(self, logs: Any) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.logs = logs

    def start(self, argv: list[str]) -> subprocess.Popen[str]:
        env = dict(os.environ, PYTHONPATH=ROOT)
        env.pop("VOLUMELIB_DB_URL", None)
        path = self.logs / f"child-{len(self.procs)}.stderr"
        with open(path, "w") as log:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                                    text=True, env=env, cwd=ROOT)
        proc.stderr_path = path  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def python(self, code: str, *args: str) -> subprocess.Popen[str]:
        return self.start([sys.executable, "-c", code, *args])

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()  # this PID only
            try:
                proc.communicate(timeout=30)
            except (subprocess.TimeoutExpired, ValueError):
                pass


@pytest.fixture
def children(tmp_path: Any) -> Iterator[Children]:
    kids = Children(tmp_path)
    try:
        yield kids
    finally:
        kids.stop()


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        err = proc.stderr_path.read_text()  # type: ignore[attr-defined]
        raise AssertionError(f"rc={proc.returncode}\n{out}\n{err}")
    return out


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Hook:
    """A real HTTP server on 127.0.0.1 recording every POST. ``answer(n, body)``
    says what to do with the n-th request (from 1): an HTTP status, ``("sleep",
    seconds, status)`` or ``"close"`` (drop the connection without an answer)."""

    def __init__(self, answer: Callable[[int, bytes], Any] | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.answer = answer or (lambda n, body: 200)
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.requests.append((dict(self.headers), body))
                    n = len(hook.requests)
                what = hook.answer(n, body)
                if what == "close":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if isinstance(what, tuple):
                    time.sleep(what[1])
                    what = what[2]
                self.send_response(what)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/volumelib"

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            found = [json.loads(body) for _, body in self.requests]
        return [m for m in found if kind is None or m["type"] == kind]

    def event_ids(self) -> list[int]:
        return [m["event"]["id"] for m in self.messages("event")]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[Callable[..., Hook]]:
    made: list[Hook] = []

    def make(answer: Callable[[int, bytes], Any] | None = None) -> Hook:
        hook = Hook(answer)
        made.append(hook)
        return hook

    try:
        yield make
    finally:
        for hook in made:
            hook.stop()


def confirmed(sub: Any, hook: Hook) -> Any:
    """Wait for ``sub``'s confirmation message at ``hook`` and confirm with its token."""
    message = wait_for(lambda: hook.messages("confirmation"), what="the confirmation")[0]
    assert message["subscription_id"] == sub.id
    fresh = volumelib.get_subscription(sub.id)
    fresh.confirm(message["token"])
    return fresh


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Volumelib-Signature"])


def busy_volumes(backend: Any, n: int) -> list[int]:
    """Create and delete ``n`` volumes; the ids of the 4 * n events it made."""
    store = backend.persistence
    start = store.last_event_id()
    for vol in [backend.create_volume(1) for _ in range(n)]:
        vol.delete()
    found = [e.id for e in store.list_events(since=start)]
    assert len(found) == 4 * n
    return found


# -- the life cycle -------------------------------------------------------------------------

def test_every_status_change_of_a_full_life_cycle_in_order(store: DBPersistence,
                                                           tmp_path: Any) -> None:
    """create, snapshot, attach (a real loop device), detach, extend, group snapshot,
    delete, with the file driver as root."""
    requires_root()
    requires_tool("losetup")
    backend = volumelib.Backend(volume_backend_name="lc", volume_driver="file",
                                file_root=str(tmp_path / "root"))
    try:
        start = store.last_event_id()
        vol = backend.create_volume(1, name="lc")
        snap = vol.create_snapshot(name="s")
        conn = vol.attach()
        assert conn.path.startswith("/dev/loop")
        vol.detach()
        vol.extend(2)
        group = backend.create_group("g", volumes=[vol])
        gs = group.create_snapshot("gs")
        [member] = gs.snapshots
        gs.delete()
        group.update(remove_volumes=[vol])
        group.delete()
        snap.delete()
        vol.refresh()
        vol.delete()
    finally:
        backend.close()
    names = {vol.id: "vol", snap.id: "snap", conn.id: "conn", group.id: "group",
             gs.id: "gs", member.id: "member"}
    found = [(e.kind, names[e.resource_id], e.action, e.old_status, e.new_status)
             for e in store.list_events(since=start)]
    assert found == [
        ("volume", "vol", "create", None, "creating"),
        ("volume", "vol", "update", "creating", "available"),
        ("snapshot", "snap", "create", None, "creating"),
        ("snapshot", "snap", "update", "creating", "available"),
        ("connection", "conn", "create", None, "connecting"),
        ("volume", "vol", "update", "available", "attaching"),
        ("connection", "conn", "update", "connecting", "connected"),
        ("volume", "vol", "update", "attaching", "in-use"),
        ("connection", "conn", "update", "connected", "attaching"),
        ("connection", "conn", "update", "attaching", "attached"),
        ("connection", "conn", "update", "attached", "detaching"),
        ("connection", "conn", "update", "detaching", "connected"),
        ("connection", "conn", "update", "connected", "disconnecting"),
        ("connection", "conn", "delete", "disconnecting", "deleted"),
        ("volume", "vol", "update", "in-use", "available"),
        ("volume", "vol", "update", "available", "extending"),
        ("volume", "vol", "update", "extending", "available"),
        ("group", "group", "create", None, "creating"),
        ("group", "group", "update", "creating", "available"),
        ("group", "group", "update", "available", "updating"),
        ("group", "group", "update", "updating", "available"),
        ("group_snapshot", "gs", "create", None, "creating"),
        ("snapshot", "member", "create", None, "creating"),
        ("snapshot", "member", "update", "creating", "available"),
        ("group_snapshot", "gs", "update", "creating", "available"),
        ("group_snapshot", "gs", "update", "available", "deleting"),
        ("snapshot", "member", "update", "available", "deleting"),
        ("snapshot", "member", "delete", "deleting", "deleted"),
        ("group_snapshot", "gs", "delete", "deleting", "deleted"),
        ("group", "group", "update", "available", "updating"),
        ("group", "group", "update", "updating", "available"),
        ("group", "group", "update", "available", "deleting"),
        ("group", "group", "delete", "deleting", "deleted"),
        ("snapshot", "snap", "update", "available", "deleting"),
        ("snapshot", "snap", "delete", "deleting", "deleted"),
        ("volume", "vol", "update", "available", "deleting"),
        ("volume", "vol", "delete", "deleting", "deleted"),
    ]
    events = store.list_events(since=start)
    extended = [e for e in events if e.kind == "volume" and e.new_status == "available"]
    assert [e.payload["size"] for e in extended] == [1, 1, 2]
    attached = [e for e in events if e.new_status == "attached"][0]
    assert attached.payload["attached_host"] and attached.payload["attach_mode"] == "rw"


def test_a_failed_operation_logs_its_error_reason(store: DBPersistence) -> None:
    backend = volumelib.Backend(volume_backend_name="bad", volume_driver="fake",
                                fake_fail_on=["extend_volume"])
    try:
        vol = backend.create_volume(1)
        start = store.last_event_id()
        with pytest.raises(exc.BackendError):
            vol.extend(2)
    finally:
        backend.close()
    failed = store.list_events(since=start)
    assert [(e.old_status, e.new_status) for e in failed] == \
        [("available", "extending"), ("extending", "error_extending")]
    assert "fake failure injected in extend_volume" in failed[1].payload["reason"]


# -- watching from other processes ------------------------------------------------------------

WATCHER = """
import json, sys, volumelib
url, since, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
volumelib.setup(persistence_config={"storage": "db", "connection": url})
found = volumelib.watch(since=since, timeout=60)
print("ready", flush=True)
for got, event in enumerate(found, 1):
    print(json.dumps(event.json), flush=True)
    if got == n:
        break
"""


def test_two_watcher_processes_see_the_same_events(url: str, store: DBPersistence,
                                                   fake: Any, children: Children) -> None:
    start = store.last_event_id()
    watchers = [children.python(WATCHER, url, str(start), "12") for _ in range(2)]
    for proc in watchers:
        assert proc.stdout.readline().strip() == "ready"
    vols = [fake.create_volume(1, name=f"w{i}") for i in range(3)]
    for vol in vols:
        vol.delete()
    seen = [[json.loads(line) for line in finish(proc).splitlines()] for proc in watchers]
    expected = [e.json for e in store.list_events(since=start)]
    assert len(expected) == 12
    assert seen[0] == seen[1] == expected
    assert [e["new_status"] for e in seen[0][:2]] == ["creating", "available"]


# -- claims: three worker processes ------------------------------------------------------------

CLAIMER = """
import sys, time, volumelib
url, group, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
volumelib.setup(persistence_config={"storage": "db", "connection": url})
last = time.monotonic()
while time.monotonic() - last < idle:
    found = volumelib.claim(group, ttl=30, limit=3)
    if not found:
        time.sleep(0.02)
        continue
    last = time.monotonic()
    for event in found:
        print(event.id, flush=True)
        event.ack()
"""


def test_three_claiming_workers_handle_each_event_once(url: str, store: DBPersistence,
                                                       fake: Any, children: Children
                                                       ) -> None:
    before = busy_volumes(fake, 3)  # already there when the workers start
    workers = [children.python(CLAIMER, url, "trio", "3") for _ in range(3)]
    during = busy_volumes(fake, 6)  # made while they work
    handled = [[int(x) for x in finish(p).split()] for p in workers]
    everything = [e.id for e in store.list_events()]
    assert everything == before + during
    flat = [i for ids in handled for i in ids]
    assert sorted(flat) == everything, "each event exactly once"
    assert all(ids == sorted(ids) for ids in handled)
    # Another group sees every event too, and nothing is left for this one.
    assert [e.id for e in volumelib.claim("other", ttl=5, limit=100)] == everything
    assert volumelib.claim("trio", ttl=5) == []


def test_a_killed_claimers_events_are_offered_again(url: str, store: DBPersistence,
                                                    fake: Any, children: Children) -> None:
    ids = busy_volumes(fake, 1)
    victim = children.python(
        "import sys, time, volumelib\n"
        "volumelib.setup(persistence_config={'storage': 'db', 'connection': sys.argv[1]})\n"
        "print(' '.join(str(e.id) for e in volumelib.claim('g', ttl=1.5, limit=2)),"
        " flush=True)\n"
        "time.sleep(600)\n", url)
    taken = [int(x) for x in victim.stdout.readline().split()]
    assert taken == ids[:2]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    now = volumelib.claim("g", ttl=30, limit=10)
    assert [e.id for e in now] == ids[2:]  # the killed worker's claims still hold
    for event in now:
        event.ack()
    again: list[int] = []

    def offered_again() -> bool:  # each claim expires 1.5 s after it was taken
        for event in volumelib.claim("g", ttl=30, limit=10):
            again.append(event.id)
            event.ack()
        return len(again) >= len(taken)

    wait_for(offered_again, timeout=10, what="the expired claims")
    assert again == taken
    assert volumelib.claim("g", ttl=30) == []


# -- webhooks ---------------------------------------------------------------------------------

def deliver(children: Children, config: str, *extra: str) -> subprocess.Popen[str]:
    return children.start([*VOLUMELIB, "--config", config, "events", "deliver",
                           "--poll-interval", "0.2", *extra])


def test_a_real_http_server_gets_signed_webhooks(store: DBPersistence, fake: Any,
                                                 config: str, hooks: Any,
                                                 children: Children) -> None:
    hook = hooks()
    sub = volumelib.subscribe(hook.url, kinds=["volume"])
    assert not sub.confirmed and sub.secret and len(sub.secret) >= 32
    worker = deliver(children, config)
    confirmed(sub, hook)
    vol = fake.create_volume(1, name="hooked")
    vol.create_snapshot().delete()  # snapshot events are not wanted
    vol.delete()
    wanted = [e.id for e in store.list_events(kinds="volume", resource_id=vol.id)]
    wait_for(lambda: hook.event_ids() == wanted, what="four volume events")
    worker.send_signal(signal.SIGTERM)
    assert "delivered=4" in finish(worker)
    with hook.lock:
        requests = list(hook.requests)
    for headers, body in requests:
        assert headers["Content-Type"] == "application/json"
        assert signed_by(sub.secret, headers, body)
        assert not signed_by("another secret of some length", headers, body)
        assert sub.secret.encode() not in body
    events = hook.messages("event")
    assert [m["event"]["new_status"] for m in events] == \
        ["creating", "available", "deleting", "deleted"]
    assert all(m["subscription_id"] == sub.id for m in events)
    assert requests[1][0]["X-Volumelib-Event"] == str(wanted[0])
    fresh = volumelib.get_subscription(sub.id)
    assert (fresh.delivered, fresh.dead_letters, fresh.position) == (4, 0, wanted[-1])


def test_a_subscriber_that_never_confirms_gets_nothing(store: DBPersistence, fake: Any,
                                                       hooks: Any) -> None:
    hook = hooks()
    sub = volumelib.subscribe(hook.url)
    worker = DeliveryWorker(store, lease_ttl=5)
    try:
        assert worker.run_once()["confirmations"] == 1
        busy_volumes(fake, 2)
        for _ in range(3):
            worker.run_once()
    finally:
        worker.release_all()
    assert [m["type"] for m in hook.messages()] == ["confirmation"]
    with pytest.raises(exc.InvalidConfirmationToken):
        volumelib.get_subscription(sub.id).confirm("not the token")
    assert not volumelib.get_subscription(sub.id).confirmed


@pytest.mark.parametrize("fault", ["500", "close", "timeout"])
def test_a_failing_server_gets_retries_and_loses_nothing(store: DBPersistence, fake: Any,
                                                         hooks: Any, fault: str) -> None:
    """The first two deliveries of the first event fail (an HTTP 500, a connection
    closed without an answer, or no answer within the subscription's timeout); it is
    retried with backoff, then delivered, and the events after it follow in order.
    The operations that made the events never wait for the webhook."""
    failure = {"500": 500, "close": "close", "timeout": ("sleep", 2.0, 200)}[fault]

    def answer(n: int, body: bytes) -> Any:
        message = json.loads(body)
        return failure if message["type"] == "event" and n in (2, 3) else 200

    hook = hooks(answer)
    sub = volumelib.subscribe(hook.url, options={"min_delay": 0.2, "max_delay": 1.0,
                                                 "timeout": 0.5, "max_attempts": 5})
    stop = threading.Event()
    worker = DeliveryWorker(store, lease_ttl=10, poll_interval=0.1)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        confirmed(sub, hook)
        t0 = time.monotonic()
        ids = busy_volumes(fake, 2)
        assert time.monotonic() - t0 < 10  # made at once, whatever the webhook does
        wait_for(lambda: sorted(set(hook.event_ids())) == ids, what="every event")
    finally:
        stop.set()
        thread.join(30)
    received = hook.event_ids()
    assert received[:3] == [ids[0]] * 3  # two failures, then the delivery
    assert received[3:] == ids[1:]
    fresh = volumelib.get_subscription(sub.id)
    assert (fresh.delivered, fresh.dead_letters, fresh.position) == (len(ids), 0, ids[-1])
    assert worker.stats["failed"] == 2


def test_a_server_that_always_fails_makes_dead_letters(store: DBPersistence, fake: Any,
                                                       hooks: Any) -> None:
    hook = hooks(lambda n, body: 200 if json.loads(body)["type"] == "confirmation"
                 else 503)
    sub = volumelib.subscribe(hook.url, kinds="volume",
                              options={"min_delay": 0.05, "max_delay": 0.1,
                                       "max_attempts": 3})
    worker = DeliveryWorker(store, lease_ttl=10, poll_interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        confirmed(sub, hook)
        vol = fake.create_volume(1)
        ids = [e.id for e in store.list_events(resource_id=vol.id)]
        wait_for(lambda: volumelib.get_subscription(sub.id).dead_letters == 2,
                 what="two dead letters")
    finally:
        stop.set()
        thread.join(30)
    assert hook.event_ids() == [ids[0]] * 3 + [ids[1]] * 3
    fresh = volumelib.get_subscription(sub.id)
    assert fresh.position == ids[-1] and fresh.delivered == 0
    assert fresh.last_error == "HTTP 503"


def test_a_killed_delivery_worker_loses_nothing(store: DBPersistence, fake: Any,
                                                config: str, hooks: Any,
                                                children: Children) -> None:
    hook = hooks(lambda n, body: ("sleep", 0.15, 200))  # a slow subscriber
    sub = volumelib.subscribe(hook.url)
    first = deliver(children, config, "--lease-ttl", "2")
    confirmed(sub, hook)
    ids = busy_volumes(fake, 4)
    wait_for(lambda: len(hook.event_ids()) >= 3, what="the first deliveries")
    first.send_signal(signal.SIGKILL)  # no cleanup, its lease just runs out
    first.wait(timeout=30)
    got_before = len(hook.event_ids())
    assert got_before < len(ids)
    second = deliver(children, config, "--lease-ttl", "2")
    wait_for(lambda: set(hook.event_ids()) >= set(ids), timeout=60, what="every event")
    second.send_signal(signal.SIGTERM)
    finish(second)
    received = hook.event_ids()
    assert sorted(set(received)) == ids
    assert received == sorted(received)  # in order, a repeat at most where it died
    assert len(received) - len(ids) <= 1
    assert volumelib.get_subscription(sub.id).position == ids[-1]


# -- the command line ----------------------------------------------------------------------------

def cli(config: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("VOLUMELIB_DB_URL", None)
    return subprocess.run([*VOLUMELIB, "--config", config, *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)


def test_cli_events_list_and_watch(store: DBPersistence, fake: Any, config: str) -> None:
    vol = fake.create_volume(1, name="cli")
    vol.extend(2)
    listed = cli(config, "events", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [e["new_status"] for e in lines] == ["creating", "available", "extending",
                                                "available"]
    assert lines == [e.json for e in store.list_events()]
    page = cli(config, "events", "list", "--since", str(lines[1]["id"]), "--limit", "1",
               "-f", "value", "-c", "new_status")
    assert page.stdout.split() == ["extending"]
    watched = cli(config, "events", "watch", "--since", "0", "--timeout", "0.5",
                  "--kind", "volume", "-f", "json", "-c", "id", "-c", "new_status")
    assert watched.returncode == 0, watched.stderr
    assert [json.loads(line) for line in watched.stdout.splitlines()] == \
        [{"id": e["id"], "new_status": e["new_status"]} for e in lines]
    bad = cli(config, "events", "list", "--kind", "lease")
    assert bad.returncode == 2 and "'lease' is not a kind of event" in bad.stderr


def test_cli_subscriptions(store: DBPersistence, config: str, hooks: Any) -> None:
    hook = hooks()
    made = cli(config, "subscription", "create", hook.url, "--kind", "volume",
               "--option", "max_attempts=2", "-f", "json")
    assert made.returncode == 0, made.stderr
    shown = json.loads(made.stdout)
    assert shown["confirmed"] is False and len(shown["secret"]) == 64
    assert shown["options"]["max_attempts"] == 2
    listed = cli(config, "subscription", "list", "-f", "json")
    assert shown["secret"] not in listed.stdout
    assert [s["id"] for s in json.loads(listed.stdout)] == [shown["id"]]
    once = cli(config, "events", "deliver", "--once")
    assert once.returncode == 0 and "confirmations=1" in once.stdout
    [message] = hook.messages("confirmation")
    wrong = cli(config, "subscription", "confirm", shown["id"], "nope")
    assert wrong.returncode == 2
    right = cli(config, "subscription", "confirm", shown["id"], message["token"], "-f", "json")
    assert right.returncode == 0 and json.loads(right.stdout)["confirmed"] is True
    assert shown["secret"] not in right.stdout
    for url in ("ftp://example.com/x", "not a url", "http://"):
        refused = cli(config, "subscription", "create", url)
        assert refused.returncode == 2 and "Invalid subscriber" in refused.stderr
    assert cli(config, "subscription", "create", hook.url, "--ttl", "0").returncode == 2
    assert len(store.get_subscriptions()) == 1  # nothing stored by the refusals
    gone = cli(config, "subscription", "delete", shown["id"])
    assert gone.returncode == 0 and store.get_subscriptions() == []
    assert cli(config, "subscription", "delete", shown["id"]).returncode == 3
