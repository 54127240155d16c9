"""``volumelib events list|watch|deliver`` and ``volumelib subscription
create|list|show|confirm|delete``: the event log of the configured store, and where
its events are delivered (see ``docs/events.md``).

With ``-f json``, ``events list`` and ``events watch`` print one JSON object per line
and per event (JSON lines, flushed as they come), so ``volumelib events watch -f json
| while read -r line; do ...; done`` reacts to each change at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from collections.abc import Iterable
from typing import Any

from cliff.command import Command
from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib import exceptions as exc
from volumelib.cli import arguments, command_bases, formatting
from volumelib.control import subscriptions
from volumelib.control.delivery import DEFAULT_LEASE_TTL, DeliveryWorker
from volumelib.control.events import events as list_events
from volumelib.control.events import watch
from volumelib.persistence.events import EVENT_KINDS, Event

LOG = logging.getLogger(__name__)

EVENT_COLUMNS = ("id", "time", "kind", "resource_id", "action", "old_status",
                 "new_status", "project_id", "payload")
SUBSCRIPTION_COLUMNS = ("id", "subscriber", "kinds", "confirmed", "ttl", "expires_at",
                        "options", "position", "delivered", "dead_letters", "last_error",
                        "created_at")
SUBSCRIPTION_LIST_COLUMNS = ("id", "subscriber", "kinds", "confirmed", "delivered",
                             "dead_letters", "last_error")


def _event_id(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an event id: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be seconds > 0, not {text}")
    return value


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=_event_id, metavar="ID",
                        help="start after this event id (a previous listing's last)")
    parser.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                        help=f"only this kind of resource, repeatable "
                             f"({', '.join(EVENT_KINDS)})")
    parser.add_argument("--resource", metavar="ID", help="only this resource's events")
    parser.add_argument("--project", metavar="ID", help="only this project's events")


def _row(event: Event) -> tuple[Any, ...]:
    data = event.json
    return tuple(formatting.show_dict({n: data[n] for n in EVENT_COLUMNS})[1])


def _json_lines(stream: Any, items: Iterable[dict[str, Any]],
                columns: list[str] | None) -> None:
    for item in items:
        if columns:
            item = {k: item[k] for k in columns if k in item}
        stream.write(json.dumps(item, sort_keys=False) + "\n")
        stream.flush()


class ListEvents(Lister):
    """List events of the store's event log, oldest first (``-f json``: one JSON
    object per line)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_filters(parser)
        parser.add_argument("--limit", type=arguments.positive_int, metavar="N",
                            help="at most N events (the last one's id is the --since of "
                                 "the next page)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = parsed_args
        page = list_events(since=args.since, limit=args.limit, kinds=args.kinds,
                           resource_id=args.resource, project_id=args.project,
                           persistence=self.app.ctx.persistence)
        self._page = page
        return EVENT_COLUMNS, [_row(e) for e in page]

    def produce_output(self, parsed_args: argparse.Namespace, column_names: Any,
                       data: Any) -> int:
        if parsed_args.formatter == "json":
            _json_lines(self.app.stdout, (e.json for e in self._page), parsed_args.columns)
            return 0
        return super().produce_output(parsed_args, column_names, data)


class WatchEvents(Command):
    """Print each new event as it is committed, until interrupted or --timeout
    seconds pass without one (``-f json``: one JSON object per line)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_filters(parser)
        parser.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                            help="stop after this long without a new event "
                                 "(default: never)")
        parser.add_argument("-f", "--format", dest="formatter", default="table",
                            choices=("table", "json", "value"),
                            help="table (default): aligned columns; json: one JSON object "
                                 "per line; value: the values separated by spaces")
        parser.add_argument("-c", "--column", action="append", dest="columns",
                            metavar="COLUMN", choices=EVENT_COLUMNS,
                            help="show only this column, repeatable")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        args = parsed_args
        columns = args.columns or list(EVENT_COLUMNS[:-1])
        found = watch(since=args.since, timeout=args.timeout, kinds=args.kinds,
                      resource_id=args.resource, project_id=args.project,
                      persistence=self.app.ctx.persistence)
        out = self.app.stdout
        if args.formatter == "json":
            _json_lines(out, (e.json for e in found), args.columns)
            return 0
        if args.formatter == "table":
            out.write(" ".join(f"{c:<{_WIDTH.get(c, 12)}}" for c in columns).rstrip() + "\n")
            out.flush()
        for event in found:
            data = event.json
            cells = [_text(data[c]) for c in columns]
            if args.formatter == "table":
                out.write(" ".join(f"{v:<{_WIDTH.get(c, 12)}}"
                                   for c, v in zip(columns, cells)).rstrip() + "\n")
            else:
                out.write(" ".join(cells) + "\n")
            out.flush()
        return 0


_WIDTH = {"id": 8, "time": 32, "kind": 14, "resource_id": 36, "action": 7,
          "old_status": 14, "new_status": 14, "project_id": 12}


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


class DeliverEvents(Command):
    """Run a delivery worker: post the events of the stored subscriptions to their
    URLs (confirmation first), until interrupted or --duration passes."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--lease-ttl", type=_seconds, default=DEFAULT_LEASE_TTL,
                            metavar="SECONDS",
                            help="how long this worker holds a subscription without "
                                 "renewing it: another worker takes over that long after "
                                 f"this one died (default {DEFAULT_LEASE_TTL:g})")
        parser.add_argument("--poll-interval", type=_seconds, default=1.0,
                            metavar="SECONDS",
                            help="longest sleep between two passes (default 1; a new "
                                 "event wakes the worker at once)")
        parser.add_argument("--duration", type=_seconds, metavar="SECONDS",
                            help="stop after this long (default: run until interrupted)")
        parser.add_argument("--once", action="store_true",
                            help="one pass over every subscription, then stop")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        args = parsed_args
        worker = DeliveryWorker(self.app.ctx.persistence, lease_ttl=args.lease_ttl,
                                poll_interval=args.poll_interval)
        if args.once:
            try:
                done = worker.run_once()
            finally:
                worker.release_all()
        else:
            stop = threading.Event()
            previous = None
            if threading.current_thread() is threading.main_thread():
                previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                worker.run(stop, duration=args.duration)
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
            done = worker.stats
        LOG.info("delivery worker %s: %s", worker.holder, done)
        self.app.stdout.write(" ".join(f"{k}={v}" for k, v in done.items()) + "\n")
        return 0


# -- subscriptions ----------------------------------------------------------------------

def _options(items: list[str] | None) -> dict[str, Any]:
    """``--option KEY=VALUE`` items with numbers and booleans as such."""
    out: dict[str, Any] = {}
    for key, text in arguments.parse_key_value(items, "--option").items():
        value: Any = text
        if key == "max_attempts":
            try:
                value = int(text, 10)
            except ValueError:
                raise exc.InvalidArgument(reason=f"--option {key} needs a whole number, "
                                                 f"not {text!r}") from None
        elif key in ("min_delay", "max_delay", "timeout"):
            try:
                value = float(text)
            except ValueError:
                raise exc.InvalidArgument(reason=f"--option {key} needs seconds, "
                                                 f"not {text!r}") from None
        elif key == "verify_tls":
            if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise exc.InvalidArgument(reason=f"--option {key} needs true or false, "
                                                 f"not {text!r}")
            value = text.lower() in ("true", "yes", "1")
        out[key] = value
    return out


def _show(sub: Any, extra: dict[str, Any] | None = None) -> Any:
    data = {name: getattr(sub, name, None) for name in SUBSCRIPTION_COLUMNS}
    data["kinds"] = list(data["kinds"] or [])
    data["options"] = {k: v for k, v in (data["options"] or {}).items() if k != "secret"}
    data.update(extra or {})
    return formatting.show_dict(data)


class CreateSubscription(ShowOne):
    """Subscribe an http(s) URL to the store's events. A delivery worker (``volumelib
    events deliver``) first posts it a confirmation with a token; events follow once
    ``volumelib subscription confirm ID TOKEN`` ran. The signing secret is shown
    here only."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("subscriber", metavar="URL",
                            help="http:// or https:// URL that receives signed JSON POSTs")
        parser.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                            help=f"only this kind of event, repeatable "
                                 f"({', '.join(EVENT_KINDS)})")
        parser.add_argument("--ttl", type=float, metavar="SECONDS",
                            help="the subscription ends by itself after this long")
        parser.add_argument("--option", action="append", dest="options",
                            metavar="KEY=VALUE",
                            help=f"a delivery option, repeatable "
                                 f"({', '.join(sorted(subscriptions.OPTIONS))})")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = parsed_args
        sub = subscriptions.subscribe(args.subscriber, kinds=args.kinds, ttl=args.ttl,
                                      options=_options(args.options),
                                      persistence=self.app.ctx.persistence)
        return _show(sub, {"secret": sub.secret})


class ListSubscriptions(Lister):
    """List the stored subscriptions and how their deliveries go."""

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        found = subscriptions.list_subscriptions(self.app.ctx.persistence)
        return SUBSCRIPTION_LIST_COLUMNS, [
            formatting.show_dict({n: _value(s, n) for n in SUBSCRIPTION_LIST_COLUMNS})[1]
            for s in found]


def _value(sub: Any, name: str) -> Any:
    value = getattr(sub, name, None)
    return list(value or []) if name == "kinds" else value


class ShowSubscription(ShowOne):
    """Show one subscription (its secret is never shown again)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("id", metavar="ID")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        return _show(subscriptions.get_subscription(parsed_args.id,
                                                    self.app.ctx.persistence))


class ConfirmSubscription(ShowOne):
    """Confirm a subscription with the token of its confirmation message."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("id", metavar="ID")
        parser.add_argument("token", metavar="TOKEN")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        sub = subscriptions.get_subscription(parsed_args.id, self.app.ctx.persistence)
        sub.confirm(parsed_args.token)
        return _show(sub)


class DeleteSubscription(command_bases.DeleteMany):
    """Delete subscriptions: nothing more is delivered to them."""

    metavar = "ID"
    dest = "ids"

    def find(self, ref: str) -> Any:
        return subscriptions.get_subscription(ref, self.app.ctx.persistence)

    def delete(self, obj: Any) -> None:
        subscriptions.unsubscribe(obj, self.app.ctx.persistence)
