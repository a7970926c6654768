"""Publish events to an HTTP(S) webhook: one POST of a JSON array per batch.

The body is ``[event, event, ...]`` built by joining the records' payloads
(already JSON; nothing is re-serialised), sent with
``Content-Type: application/json``, an ``Idempotency-Key`` that is the same
every time the same events are sent, and ``Authorization: Bearer <token>``
when a token is configured.

How answers are treated (the delivery worker retries whatever raises):

- 2xx: delivered.
- 408, 429, 5xx, connection errors, timeouts: transient,
  :class:`WebhookStatusError` / :class:`~visionflow.errors.PublishError`.
  A ``Retry-After`` answer (seconds or HTTP date, capped at 60 s) makes
  :meth:`WebhookPublisher.send` fail fast, without a request, until then.
- 413: the chunk is split in halves and each half sent on its own.
- Any other 4xx: the receiver rejects the batch (bad token, wrong path,
  schema mismatch). Dropping it would lose events silently, so it is logged
  as an ERROR with the status and the start of the answer, and raised as a
  :class:`WebhookStatusError` with ``permanent=True``: the events stay in the
  spool and are retried with backoff until the receiver or the config is
  fixed (the spool's overflow policy bounds what that can cost).

The token, the configured headers and the URL's query and user info never
appear in logs, errors or ``repr``.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import ssl
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from visionflow.errors import ConfigError, MissingDependencyError, PipelineStateError, PublishError
from visionflow.events.jsonl import PublisherState
from visionflow.events.publishers.base import Record
from visionflow.events.redact import resolve_secret

if TYPE_CHECKING:
    import httpx

    from visionflow.config.publishers import WebhookPublisherConfig

logger = logging.getLogger(__name__)

_INSTALL_HINT = "pip install 'visionflow[brokers]'"
_RETRY_AFTER_MAX_S = 60.0
_TRANSIENT_4XX = frozenset({408, 425, 429})
_REJECT_LOG_INTERVAL_S = 60.0


class WebhookStatusError(PublishError):
    """The webhook answered with a status other than 2xx.

    Attributes:
        status_code: the HTTP status.
        permanent: ``True`` for a 4xx rejection that retrying alone will not fix.
        retry_after_s: the wait the receiver asked for (``Retry-After``), or ``None``.
    """

    def __init__(
        self, message: str, *, status_code: int, permanent: bool, retry_after_s: float | None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.permanent = permanent
        self.retry_after_s = retry_after_s


def _import_httpx() -> None:
    try:
        import httpx  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"the webhook publisher needs httpx: {_INSTALL_HINT}") from exc


def safe_url(url: httpx.URL) -> str:
    """``scheme://host[:port]/path`` of ``url``: no user info, no query (they may hold secrets)."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = datetime.now(timezone.utc).timestamp() if now is None else now
        seconds = when.timestamp() - current
    return min(max(seconds, 0.0), _RETRY_AFTER_MAX_S)


def idempotency_key(records: Sequence[Record]) -> str:
    """A key that is the same whenever exactly these events are sent again."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.event_id.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def _build_ssl_context(config: WebhookPublisherConfig, where: str) -> ssl.SSLContext:
    """System trust store (or ``tls.ca_file``), plus a client certificate for mTLS."""
    tls = config.tls
    ca_file = str(tls.ca_file) if tls is not None and tls.ca_file else None
    try:
        context = ssl.create_default_context(cafile=ca_file)
        if tls is not None and tls.cert_file:
            key_file = str(tls.key_file) if tls.key_file else None
            context.load_cert_chain(str(tls.cert_file), key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{where}: tls: cannot load the CA / client certificate: {exc}") from exc
    if tls is not None and tls.key_file and not tls.cert_file:
        raise ConfigError(f"{where}: tls.key_file is set but tls.cert_file is not")
    if tls is not None and tls.insecure_skip_verify:
        logger.warning("%s: TLS certificate verification is OFF (insecure_skip_verify)", where)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _request_headers(config: WebhookPublisherConfig, where: str) -> dict[str, str]:
    """Headers of every request; the token is read now (at connect time)."""
    from visionflow import __version__

    headers = {"User-Agent": f"visionflow/{__version__}", **config.headers}
    headers["Content-Type"] = "application/json"
    token = resolve_secret(config.token, config.token_env, field=f"{where}: token_env")
    if token is not None:
        if any(name.lower() == "authorization" for name in config.headers):
            raise ConfigError(f"{where}: set either token/token_env or headers.Authorization")
        headers["Authorization"] = f"Bearer {token}"
    return headers


class WebhookPublisher:
    """POSTs batches of events to one URL, in order, as JSON arrays.

    Implements :class:`~visionflow.events.publishers.base.Publisher`. A batch
    larger than ``config.batch_size`` goes out as several requests, in order;
    if one fails, :meth:`send` raises and the whole batch is sent again later
    (the chunks already accepted arrive twice: receivers dedupe by
    ``event_id``, or by ``Idempotency-Key``). Connections are kept alive
    between batches. Not thread-safe: the delivery worker calls it from one
    thread.

    Args:
        config: the ``type: webhook`` publisher section of the config.

    Raises:
        ConfigError: the URL is not an absolute http(s) URL, the token's
            environment variable is unset, or the TLS files cannot be loaded.
        MissingDependencyError: ``httpx`` is not installed.
    """

    def __init__(self, config: WebhookPublisherConfig) -> None:
        _import_httpx()
        import httpx

        self.name: str = config.publisher_name
        where = f"publisher {self.name!r}"
        self._config = config
        self._where = where
        self._url = _parse_url(config.url, where)
        self.url: str = safe_url(self._url)
        self.batch_size: int = config.batch_size
        self.timeout_s: float = config.timeout_s
        self._headers: dict[str, str] = {}
        self._ssl = _build_ssl_context(config, where)
        self._timeout = httpx.Timeout(config.timeout_s)
        self._client: httpx.Client | None = None
        self._not_before = 0.0
        self._last_reject_log: tuple[int, float] = (0, 0.0)
        self._state = PublisherState.OPEN
        self._events_sent = 0
        self._requests_sent = 0

    @property
    def state(self) -> PublisherState:
        """Whether the publisher is open or closed."""
        return self._state

    @property
    def events_sent(self) -> int:
        """Events answered with 2xx so far (duplicates of retried batches included)."""
        return self._events_sent

    @property
    def requests_sent(self) -> int:
        """POST requests answered with 2xx so far."""
        return self._requests_sent

    def connect(self) -> None:
        """Read the token and open the connection pool (connected on the first request).

        Raises:
            ConfigError: ``token_env`` names an unset variable, or both a
                token and an ``Authorization`` header are configured.
            PipelineStateError: the publisher is closed.
        """
        self._check_open()
        if self._client is None:
            import httpx

            self._headers = _request_headers(self._config, self._where)
            self._client = httpx.Client(timeout=self._timeout, verify=self._ssl)

    def send(self, records: Sequence[Record]) -> None:
        """POST ``records`` in chunks of ``batch_size``; return when all got a 2xx.

        Raises:
            WebhookStatusError: a non-2xx answer (``permanent`` tells 4xx
                rejections from transient failures).
            PublishError: connection error or timeout, or the receiver's
                ``Retry-After`` has not elapsed yet.
            PipelineStateError: the publisher is closed.
        """
        self._check_open()
        if not records:
            return
        wait_s = self._not_before - time.monotonic()
        if wait_s > 0:
            raise self._status_error(429, f"receiver asked to retry after {wait_s:.1f} s", wait_s)
        self.connect()
        for start in range(0, len(records), self.batch_size):
            self._post(records[start : start + self.batch_size])

    def close(self) -> None:
        """Close the connection pool; idempotent."""
        if self._state is PublisherState.CLOSED:
            return
        self._state = PublisherState.CLOSED
        client, self._client = self._client, None
        if client is not None:
            client.close()
        logger.debug("webhook publisher %r closed after %d events", self.name, self._events_sent)

    def __enter__(self) -> WebhookPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebhookPublisher(name={self.name!r}, url={self.url!r}, state={self._state.value})"

    def _check_open(self) -> None:
        if self._state is PublisherState.CLOSED:
            raise PipelineStateError(f"webhook publisher {self.name!r} is closed; create a new one")

    def _post(self, chunk: Sequence[Record]) -> None:
        import httpx

        assert self._client is not None
        body = b"[" + b",".join(record.payload for record in chunk) + b"]"
        headers = {"Idempotency-Key": idempotency_key(chunk)}
        try:
            response = self._client.post(
                self._url, content=body, headers={**self._headers, **headers}
            )
        except httpx.HTTPError as exc:
            raise PublishError(
                f"webhook {self.name!r} ({self.url}): {type(exc).__name__}: {exc}"
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            self._events_sent += len(chunk)
            self._requests_sent += 1
            return
        if status == 413 and len(chunk) > 1:
            half = len(chunk) // 2
            logger.info("webhook %r: 413 for %d events, splitting", self.name, len(chunk))
            self._post(chunk[:half])
            self._post(chunk[half:])
            return
        self._fail(response, len(chunk))

    def _fail(self, response: httpx.Response, count: int) -> None:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after:
            self._not_before = time.monotonic() + retry_after
        permanent = 400 <= status < 500 and status not in _TRANSIENT_4XX
        if permanent:
            self._log_rejection(status, count, response.text[:200])
        raise self._status_error(status, f"HTTP {status} for {count} events", retry_after)

    def _log_rejection(self, status: int, count: int, answer: str) -> None:
        # Retried every backoff period: log each new status, then once a minute.
        last_status, last_time = self._last_reject_log
        now = time.monotonic()
        if status == last_status and now - last_time < _REJECT_LOG_INTERVAL_S:
            return
        self._last_reject_log = (status, now)
        logger.error(
            "webhook %r (%s) REJECTED %d events with HTTP %d (answer: %r); they stay in the "
            "spool and are retried until the receiver accepts them: fix the receiver or the "
            "publisher config",
            self.name,
            self.url,
            count,
            status,
            answer,
        )

    def _status_error(
        self, status: int, reason: str, retry_after_s: float | None
    ) -> WebhookStatusError:
        permanent = 400 <= status < 500 and status not in _TRANSIENT_4XX
        return WebhookStatusError(
            f"webhook {self.name!r} ({self.url}): {reason}",
            status_code=status,
            permanent=permanent,
            retry_after_s=retry_after_s,
        )


def _parse_url(url: str, where: str) -> httpx.URL:
    import httpx

    hint = "an absolute http:// or https:// URL such as https://host:8443/events"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{where}: url is not a valid URL ({exc}); expected {hint}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host or not _port_ok(parsed.port):
        shown = safe_url(parsed) if parsed.host else repr(url.split("?", maxsplit=1)[0])
        raise ConfigError(f"{where}: url must be {hint}, got {shown}")
    return parsed


def _port_ok(port: int | None) -> bool:
    return port is None or 1 <= port <= 65535
