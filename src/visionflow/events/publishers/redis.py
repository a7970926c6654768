"""Publish events to a Redis Stream with ``XADD``.

Each record becomes one stream entry with the fields ``event_id``,
``stream_id``, ``type`` and ``payload`` (the event's JSON). A batch goes out
as one ``MULTI``/``EXEC`` transaction, so Redis applies all of it or none of
it; if the connection drops before ``EXEC`` is answered, the delivery worker
sends the batch again (at-least-once: consumers dedupe by ``event_id``).

The stream key may contain ``{stream_id}`` (and ``{event_type}``) to give
every source its own stream (``visionflow:{stream_id}:events``);
``MAXLEN ~ maxlen`` trims each stream approximately, which costs Redis almost
nothing.

``redis`` (redis-py) is imported when a publisher is created, not with
``visionflow``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from visionflow.errors import MissingDependencyError, PipelineStateError, PublishError
from visionflow.events.jsonl import PublisherState
from visionflow.events.publishers.base import Record
from visionflow.events.redact import mask_url, resolve_secret

if TYPE_CHECKING:
    import redis as redis_lib
    from redis.typing import EncodableT, FieldT

    from visionflow.config.schema import RedisPublisherConfig

logger = logging.getLogger(__name__)


class RedisPublisher:
    """Sends batches of records to a Redis Stream (see the module docstring).

    Not thread-safe: the delivery worker calls it from one thread.

    Args:
        config: the publisher's config (URL, stream key, maxlen, password, TLS).
        socket_timeout_s: connect and read timeout of every Redis call, seconds.
            Short, so that a dead broker fails a batch quickly and the worker
            backs off instead of hanging.

    Raises:
        MissingDependencyError: ``redis`` is not installed.
        ConfigError: ``password_env`` names an unset environment variable
            (the config itself validated the URL and the key template).
    """

    def __init__(self, config: RedisPublisherConfig, *, socket_timeout_s: float = 2.0) -> None:
        self.name = config.publisher_name
        self._redis = _import_redis()  # fail at start-up, not in the delivery thread
        self._config = config
        self._url = config.url
        self._password = resolve_secret(
            config.password,
            config.password_env,
            field=f"events.publishers[{self.name!r}].password_env",
        )
        self._stream_key = _stream_key_template(config.stream_key)
        self._socket_timeout_s = socket_timeout_s
        self._client: redis_lib.Redis | None = None
        self._state = PublisherState.OPEN

    @property
    def state(self) -> PublisherState:
        """Whether the publisher is open or closed."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether a client exists (it reconnects by itself after a broker restart)."""
        return self._client is not None

    def connect(self) -> None:
        """(Re)create the client and ``PING`` the server.

        Raises:
            PipelineStateError: the publisher is closed.
            PublishError: the server is unreachable or refused the credentials.
        """
        self._check_open()
        redis = self._redis
        self._drop_client()
        client = redis.Redis.from_url(self._url, **self._client_options(redis))
        try:
            client.ping()
        except redis.RedisError as exc:
            client.close()
            raise self._publish_error("cannot connect to", exc) from exc
        self._client = client
        logger.info("publisher %r connected to %s", self.name, mask_url(self._url))

    def send(self, records: Sequence[Record]) -> None:
        """XADD every record in one transaction; connects first if needed.

        Raises:
            PipelineStateError: the publisher is closed.
            PublishError: the server did not apply the batch (retry it later).
        """
        self._check_open()
        if not records:
            return
        if self._client is None:
            self.connect()
        assert self._client is not None  # for mypy: connect() sets it or raises
        pipe = self._client.pipeline(transaction=True)
        for record in records:
            pipe.xadd(
                self._stream_key(record),
                _fields(record),
                maxlen=self._config.maxlen,
                approximate=True,  # "MAXLEN ~": trims whole nodes, nearly free
            )
        try:
            pipe.execute()
        except self._redis.RedisError as exc:
            raise self._publish_error("cannot XADD to", exc) from exc
        finally:
            pipe.reset()

    def close(self) -> None:
        """Disconnect; closing twice is safe."""
        if self._state is PublisherState.CLOSED:
            return
        self._state = PublisherState.CLOSED
        self._drop_client()
        logger.debug("publisher %r closed", self.name)

    def __enter__(self) -> RedisPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RedisPublisher(name={self.name!r}, url={mask_url(self._url)!r}, "
            f"stream_key={self._config.stream_key!r}, state={self._state.value})"
        )

    def _client_options(self, redis: Any) -> dict[str, Any]:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options: dict[str, Any] = {
            "socket_timeout": self._socket_timeout_s,
            "socket_connect_timeout": self._socket_timeout_s,
            # One immediate retry reopens a pooled connection that a broker
            # restart closed; longer retries are the delivery worker's job.
            "retry": Retry(NoBackoff(), 1),
            "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        }
        if self._config.username is not None:
            options["username"] = self._config.username
        if self._password is not None:
            options["password"] = self._password
        if urllib.parse.urlsplit(self._url).scheme == "rediss":
            options.update(self._tls_options())
        return options

    def _tls_options(self) -> dict[str, Any]:
        tls = self._config.tls
        if tls is None:
            return {}
        options: dict[str, Any] = {
            "ssl_ca_certs": _path_or_none(tls.ca_file),
            "ssl_certfile": _path_or_none(tls.cert_file),
            "ssl_keyfile": _path_or_none(tls.key_file),
        }
        if tls.insecure_skip_verify:
            options["ssl_cert_reqs"] = "none"
            options["ssl_check_hostname"] = False
        return options

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing a dead connection must not fail close()
                logger.debug("publisher %r: error closing the client: %s", self.name, exc)

    def _check_open(self) -> None:
        if self._state is PublisherState.CLOSED:
            raise PipelineStateError(f"RedisPublisher {self.name!r} is closed; create a new one")

    def _publish_error(self, action: str, exc: BaseException) -> PublishError:
        detail = f"{type(exc).__name__}: {exc}"
        if self._password:
            detail = detail.replace(self._password, "***")
        return PublishError(
            f"publisher {self.name!r}: {action} Redis at {mask_url(self._url)}: {detail}"
        )


def _fields(record: Record) -> dict[FieldT, EncodableT]:
    return {
        "event_id": record.event_id,
        "stream_id": record.stream_id,
        "type": record.event_type,
        "payload": record.payload,
    }


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise MissingDependencyError(
            "the Redis publisher needs the 'redis' package: pip install 'visionflow[brokers]'"
        ) from exc
    return redis


def _stream_key_template(template: str) -> Callable[[Record], str]:
    """A function giving each record's stream key; the config validated the template."""
    if "{" not in template:
        return lambda record: template
    return lambda record: template.format(stream_id=record.stream_id, event_type=record.event_type)


def _path_or_none(path: object) -> str | None:
    return None if path is None else str(path)
