"""Keep credentials out of logs, errors and ``repr``: URL masking and secret lookup.

Broker URLs may carry a password in their userinfo (``redis://:s3cret@host``).
Every message that shows a URL passes it through :func:`mask_url` first.
Passwords and tokens are read at connect time by :func:`resolve_secret`, from
a literal ``SecretStr`` in the config or, preferably, from an environment
variable named in the config (``password_env: REDIS_PASSWORD``).
"""

from __future__ import annotations

import os
import re
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from visionflow.errors import ConfigError

MASK = "***"
"""What a hidden secret is replaced with."""

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***``.

    The user name stays (it helps debugging and is not a secret); a URL
    without a password is returned unchanged. Works on malformed URLs too
    (``redis://:pw@:99999``), and on text that merely contains URLs.

    Example::

        >>> mask_url("rediss://default:hunter2@cache:6380/0")
        'rediss://default:***@cache:6380/0'
    """
    try:
        parts = urlsplit(url)
        if parts.password is not None and parts.hostname is not None:
            user = parts.username or ""
            host = parts.netloc.rsplit("@", 1)[1]
            netloc = f"{user}:{MASK}@{host}"
            return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        pass  # malformed (bad port, ...): fall back to the pattern below
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def resolve_secret(literal: _Secret | None, env_name: str | None, *, field: str) -> str | None:
    """The secret to use at connect time: ``$env_name`` when named, else ``literal``.

    Args:
        literal: the config's literal secret (a pydantic ``SecretStr``), or None.
        env_name: name of the environment variable holding the secret, or None.
        field: YAML path of ``env_name`` for the error message
            (``events.publishers[1].password_env``).

    Returns:
        The secret, or None when neither is given.

    Raises:
        ConfigError: ``env_name`` is given but the variable is not set. The
            message names the variable, never its value.
    """
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise ConfigError(
                f"{field}: environment variable {env_name!r} is not set; "
                f"export it or remove {field.rsplit('.', 1)[-1]}"
            )
        return value
    return literal.get_secret_value() if literal is not None else None
