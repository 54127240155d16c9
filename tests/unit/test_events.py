"""Events on the memory store: reading and watching, claims, subscriptions (bad input,
callables, secrets kept out of sight), gc, and a store without an event log.

The cross-process and real-database behaviour is in tests/functional/test_events.py.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.control import webhooks
from volumelib.control.delivery import DeliveryWorker
from volumelib.control.subscriptions import backoff
from volumelib.persistence.memory import MemoryPersistence
from volumelib.records.subscription import shown_url


@pytest.fixture
def store() -> Iterator[MemoryPersistence]:
    previous = volumelib.get_persistence()
    mine = MemoryPersistence()
    volumelib.setup(persistence_config=mine)
    try:
        yield mine
    finally:
        volumelib.setup(persistence_config=previous)


@pytest.fixture
def backend(store: MemoryPersistence) -> Iterator[volumelib.Backend]:
    made = volumelib.Backend(volume_backend_name="unit-events", volume_driver="fake")
    yield made
    made.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


# -- reading and watching -------------------------------------------------------------------

def test_events_pages_and_filters_through_the_public_api(store: Any, backend: Any) -> None:
    vol = backend.create_volume(1, name="a")
    vol.create_snapshot()
    page = volumelib.events(limit=3)
    assert len(page) == 3 and page.more and isinstance(page[0], volumelib.Event)
    rest = volumelib.events(since=page.marker)
    assert [e.kind for e in rest] == ["snapshot"] and not rest.more
    assert [e.new_status for e in volumelib.events(resource_id=vol.id)] == \
        ["creating", "available"]
    assert volumelib.events(kinds="group").marker == store.last_event_id()
    with pytest.raises(exc.InvalidEventKind):
        volumelib.events(kinds="quota")


def test_watch_yields_new_events_and_ends_after_its_timeout(store: Any, backend: Any
                                                            ) -> None:
    backend.create_volume(1)  # before the watch: not seen
    found = volumelib.watch(timeout=1.0, kinds="volume")
    seen: list[Any] = []
    reader = threading.Thread(target=lambda: seen.extend(found))
    reader.start()
    vol = backend.create_volume(1, name="late")
    vol.create_snapshot()  # filtered out
    reader.join(10)
    assert not reader.is_alive()
    assert [(e.resource_id, e.new_status) for e in seen] == \
        [(vol.id, "creating"), (vol.id, "available")]
    again = list(volumelib.watch(since=0, timeout=0))  # resume from the start, no wait
    assert [e.id for e in again] == [e.id for e in volumelib.events()]


def test_watch_refuses_bad_arguments_when_called(store: Any) -> None:
    with pytest.raises(exc.InvalidEventKind):
        volumelib.watch(kinds=["volume", "pool"])
    for timeout in (-1, "5", float("inf")):
        with pytest.raises(exc.InvalidArgument):
            volumelib.watch(timeout=timeout)
    with pytest.raises(exc.InvalidArgument):
        volumelib.watch(since=-3)


def test_a_store_without_an_event_log_says_so(backend: Any) -> None:
    quiet = MemoryPersistence(events=False)
    volumelib.setup(persistence_config=quiet)
    backend.create_volume(1)
    assert not quiet.events_enabled and quiet.trim_events(0) == 0
    for call in (lambda: volumelib.events(), lambda: volumelib.watch(),
                 lambda: volumelib.claim("g", ttl=1),
                 lambda: volumelib.subscribe("http://127.0.0.1:9/x"),
                 lambda: volumelib.subscribe(print)):
        with pytest.raises(exc.NotSupported):
            call()
    assert quiet.get_subscriptions() == []


# -- claims -------------------------------------------------------------------------------------

def test_claims_give_each_event_to_one_worker_until_it_expires(store: Any, backend: Any
                                                               ) -> None:
    backend.create_volume(1)
    backend.create_volume(1)
    ids = [e.id for e in volumelib.events()]
    first = volumelib.claim("g", ttl=1.0, limit=3)
    assert [e.id for e in first] == ids[:3] and all(e.group == "g" for e in first)
    second = volumelib.claim("g", ttl=30, limit=3)
    assert [e.id for e in second] == ids[3:]
    first[0].ack()
    first[0].ack()  # again: nothing happens
    time.sleep(1.1)  # the other two claims of `first` run out
    retaken = volumelib.claim("g", ttl=30, limit=5)
    assert [e.id for e in retaken] == ids[1:3]
    with pytest.raises(exc.ClaimLost):
        first[1].ack()  # taken over: the other worker handles it
    first[1].release()  # not its own any more: nothing happens
    for event in [*retaken, *second]:
        event.ack()
    assert volumelib.claim("g", ttl=30) == []
    # The cursor moved over every acknowledged event and dropped their rows.
    volumelib.claim("g", ttl=30)
    assert store.find("lease", operation="claims:g") == []
    assert [e.id for e in volumelib.claim("h", ttl=30, limit=10)] == ids  # other group


def test_an_expired_claim_nobody_took_can_still_be_acknowledged(store: Any, backend: Any
                                                                ) -> None:
    backend.create_volume(1)
    [event] = volumelib.claim("late", ttl=0.1, limit=1)
    time.sleep(0.15)
    event.ack()
    assert [e.id for e in volumelib.claim("late", ttl=5, limit=5)] == \
        [e.id for e in volumelib.events()][1:]


def test_renew_and_release(store: Any, backend: Any) -> None:
    backend.create_volume(1)
    [event] = volumelib.claim("r", ttl=1.0, limit=1)
    event.renew(30)
    time.sleep(1.1)
    assert [e.id for e in volumelib.claim("r", ttl=5, limit=1)] != [event.id]
    event.release()
    assert [e.id for e in volumelib.claim("r", ttl=5, limit=1)] == [event.id]


def test_claim_refuses_bad_arguments(store: Any) -> None:
    for ttl in (0, -1, "5", None, float("nan")):
        with pytest.raises(exc.InvalidTTL):
            volumelib.claim("g", ttl=ttl)
    with pytest.raises(exc.InvalidTTL):
        volumelib.claim("g", ttl=5, grace=-1)
    for group in ("", 5, "x" * 181, "tab\there"):
        with pytest.raises(exc.InvalidArgument):
            volumelib.claim(group, ttl=5)
    for limit in (0, "3", True):
        with pytest.raises(exc.InvalidArgument):
            volumelib.claim("g", ttl=5, limit=limit)


# -- subscriptions: bad input --------------------------------------------------------------------

@pytest.mark.parametrize("subscriber", [
    "ftp://example.com/hook", "file:///etc/passwd", "example.com/hook", "http://",
    "https:///path", "http://exa mple.com/", "", 42, None, ["http://x"]])
def test_a_subscriber_that_is_no_http_url_is_refused(store: Any, subscriber: Any) -> None:
    with pytest.raises(exc.InvalidSubscriber):
        volumelib.subscribe(subscriber)
    assert store.get_subscriptions() == []


@pytest.mark.parametrize("ttl", [0, -5, float("nan"), float("inf"), "60", True])
def test_a_ttl_that_is_no_positive_number_is_refused(store: Any, ttl: Any) -> None:
    for subscriber in ("https://hooks.example.com/x", print):
        with pytest.raises(exc.InvalidTTL):
            volumelib.subscribe(subscriber, ttl=ttl)
    assert store.get_subscriptions() == [] and volumelib.list_subscriptions() == []


def test_unknown_kinds_and_options_are_refused(store: Any) -> None:
    url = "https://hooks.example.com/x"
    for kinds in ("lease", ["volume", "volumes"], []):
        with pytest.raises(exc.InvalidEventKind):
            volumelib.subscribe(url, kinds=kinds)
    for options in ({"retries": 3}, {"max_attempts": 0}, {"timeout": -1},
                    {"min_delay": 5, "max_delay": 1}, {"verify_tls": "no"},
                    {"secret": "short"}, "max_attempts=3"):
        with pytest.raises(exc.InvalidArgument):
            volumelib.subscribe(url, options=options)
    assert store.get_subscriptions() == []


def test_unsubscribe_and_lookups(store: Any) -> None:
    sub = volumelib.subscribe("https://hooks.example.com/x", kinds="volume", ttl=60)
    assert sub.expires_at is not None and sub.kinds == ["volume"]
    assert volumelib.get_subscription(sub.id) == sub
    assert [s.id for s in volumelib.list_subscriptions()] == [sub.id]
    volumelib.unsubscribe(sub)
    with pytest.raises(exc.SubscriptionNotFound):
        volumelib.unsubscribe(sub.id)
    with pytest.raises(exc.SubscriptionNotFound):
        volumelib.get_subscription(sub.id)


# -- subscriptions: secrets ----------------------------------------------------------------------

class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        _Hook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://user:pw-in-url@127.0.0.1:{server.server_port}/h?token=abc"
    finally:
        server.shutdown()
        server.server_close()


def test_the_secret_is_never_in_repr_json_or_logs(store: Any, backend: Any,
                                                  loopback: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-" + "x" * 30
    sub = volumelib.subscribe(loopback, options={"secret": secret, "min_delay": 0.01})
    token = sub.confirmation_token
    assert sub.secret == secret and "secret" not in sub.options
    worker = DeliveryWorker(store, lease_ttl=5)
    try:
        worker.run_once()
        sub.confirm(json.loads(_Hook.bodies[0])["token"])
        backend.create_volume(1)
        worker.run_once()
    finally:
        worker.release_all()
    stored = volumelib.get_subscription(sub.id)
    assert stored.delivered == 2
    texts = [repr(sub), repr(stored), json.dumps(stored.json), stored.jsons,
             json.dumps(volumelib.dump()), caplog.text, *(b.decode() for b in _Hook.bodies[1:])]
    for text in texts:
        assert secret not in text and token not in text
        assert "pw-in-url" not in text or text.startswith("{")  # the URL is in its JSON
    assert "pw-in-url" not in caplog.text and "token=abc" not in caplog.text
    assert shown_url(loopback) == f"http://***@{loopback.split('@')[1].split('?')[0]}?***"


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"type":"event"}'
    expected = hmac.new(b"key-of-some-length", body, hashlib.sha256).hexdigest()
    assert webhooks.sign("key-of-some-length", body) == f"sha256={expected}"
    assert webhooks.verify("key-of-some-length", body, f"sha256={expected}")
    assert not webhooks.verify("key-of-some-length", body + b" ", f"sha256={expected}")
    assert not webhooks.verify("other-key", body, f"sha256={expected}")
    assert not webhooks.verify("key-of-some-length", body, None)


def test_backoff_doubles_up_to_its_limit() -> None:
    options = {"min_delay": 0.5, "max_delay": 3.0}
    assert [backoff(options, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# -- callable subscriptions ----------------------------------------------------------------------

def test_a_callable_gets_each_event_with_retries(store: Any, backend: Any) -> None:
    calls: list[int] = []
    delivered: list[int] = []

    def flaky(event: Any) -> None:
        calls.append(event.id)
        if calls.count(event.id) <= 2:
            raise RuntimeError("not now")
        delivered.append(event.id)

    sub = volumelib.subscribe(flaky, kinds="volume", options={"min_delay": 0.01})
    try:
        assert sub.confirmed and sub.secret is None and sub.id.startswith("local-")
        vol = backend.create_volume(1)
        vol.create_snapshot()
        ids = [e.id for e in volumelib.events(kinds="volume")]
        wait_for(lambda: delivered == ids)
        assert calls == [ids[0]] * 3 + [ids[1]] * 3
        assert sub.dead_letters == 0 and sub.delivered == 2
    finally:
        volumelib.unsubscribe(sub)
    assert sub.id not in [s.id for s in volumelib.list_subscriptions()]


def test_a_callable_that_always_fails_makes_dead_letters_and_goes_on(store: Any,
                                                                    backend: Any) -> None:
    calls: list[int] = []

    def broken(event: Any) -> None:
        calls.append(event.id)
        raise ValueError("broken")

    sub = volumelib.subscribe(broken, options={"max_attempts": 2, "min_delay": 0.01})
    try:
        backend.create_volume(1)
        wait_for(lambda: sub.dead_letters == 2)
        ids = [e.id for e in volumelib.events()]
        assert calls == [ids[0], ids[0], ids[1], ids[1]]
        assert sub.last_error == "ValueError: broken" and sub.position == ids[-1]
    finally:
        sub.stop()


def test_an_operation_does_not_wait_for_a_slow_callable(store: Any, backend: Any) -> None:
    release = threading.Event()
    sub = volumelib.subscribe(lambda event: release.wait(10))
    try:
        t0 = time.monotonic()
        for _ in range(3):
            backend.create_volume(1)
        assert time.monotonic() - t0 < 2
    finally:
        release.set()
        sub.stop()


# -- gc ---------------------------------------------------------------------------------------------

def test_gc_trims_old_events_their_claims_and_expired_subscriptions(store: Any,
                                                                    backend: Any) -> None:
    volumelib.setup(persistence_config=store, event_ttl=0.2)
    try:
        backend.create_volume(1)
        [claimed] = volumelib.claim("gcg", ttl=30, limit=1)
        sub = volumelib.subscribe("https://hooks.example.com/x", ttl=0.1)
        time.sleep(0.25)
        newest = store.last_event_id()
        report = backend.gc()
        assert report["events"] == {"trimmed": 2, "claims_dropped": 1,
                                    "subscriptions_expired": [sub.id]}
        assert list(volumelib.events()) == [] and store.last_event_id() == newest
        assert store.find("lease", operation="claims:gcg") == []
        with pytest.raises(exc.ClaimLost):
            claimed.ack()
    finally:
        volumelib.setup(persistence_config=store)
    with pytest.raises(exc.InvalidConfig):
        volumelib.setup(persistence_config=store, event_ttl=0)
