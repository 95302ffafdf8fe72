"""Prometheus metrics, one registry per app (no process-wide singletons)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        #: labelled children by their labels: ``labels()`` takes a lock and builds its key on
        #: every call, and every request is counted and timed
        self._http: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._contacts: dict[tuple[str, str], Counter] = {}
        self.http_requests = Counter(
            "hotline_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "hotline_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.contacts = Counter(
            "hotline_contacts",
            "Contacts taken in, by channel and outcome (created, repeat, attached)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.calls_offered = Counter(
            "hotline_calls_offered", "Inbound calls to the hotline", registry=self.registry
        )
        self.calls_answered = Counter(
            "hotline_calls_answered",
            "Calls answered by an agent, by whether within the answer target (15 s)",
            ["within_target"],
            registry=self.registry,
        )
        self.calls_abandoned = Counter(
            "hotline_calls_abandoned",
            "Callers who hung up while waiting for an agent",
            registry=self.registry,
        )
        self.call_wait = Histogram(
            "hotline_call_wait_seconds",
            "Time from joining the queue to an agent's answer",
            registry=self.registry,
            buckets=(5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600),
        )
        self.calendar_degraded = Gauge(
            "hotline_calendar_degraded",
            "1 while a year in use or just ahead has no official holiday schedule",
            registry=self.registry,
        )

    def watch_intake(self, read: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        """Report the intake's batches and their contacts by way (``read``: the intake's
        ``batch_counts``), read at each scrape."""
        self.registry.register(_IntakeBatches(read))

    def http_children(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The request counter and latency histogram for these labels."""
        key = (method, route, status)
        found = self._http.get(key)
        if found is None:
            found = self._http[key] = (
                self.http_requests.labels(method, route, str(status)),
                self.http_latency.labels(route),
            )
        return found

    def contact(self, channel: str, outcome: str) -> Counter:
        """The contacts counter for a channel and outcome."""
        found = self._contacts.get((channel, outcome))
        if found is None:
            found = self._contacts[(channel, outcome)] = self.contacts.labels(channel, outcome)
        return found


class _IntakeBatches(Collector):
    """``hotline_intake_batches_total`` and ``hotline_intake_batch_contacts_total`` by way."""

    def __init__(self, read: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        batches = CounterMetricFamily(
            "hotline_intake_batches",
            "Intake batches written, by way (statement: one statement on PostgreSQL)",
            labels=["way"],
        )
        contacts = CounterMetricFamily(
            "hotline_intake_batch_contacts",
            "Contacts in the intake's batches, by the way their batch was written",
            labels=["way"],
        )
        for way, (written, held) in sorted(self._read().items()):
            batches.add_metric([way], written)
            contacts.add_metric([way], held)
        yield batches
        yield contacts
