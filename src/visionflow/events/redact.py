"""Keep credentials out of logs, errors and ``repr``: URL masking and secret lookup.

Broker URLs may carry a password in their userinfo (``redis://:s3cret@host``).
Every message that shows a URL passes it through :func:`mask_url` first.
Passwords and tokens are read at connect time by :func:`resolve_secret`, from
a literal ``SecretStr`` in the config or, preferably, from an environment
variable named in the config (``password_env: REDIS_PASSWORD``).
"""

from __future__ import annotations

import os
from typing import Protocol

from visionflow.errors import ConfigError
from visionflow.urls import MASK, mask_url

__all__ = ["MASK", "mask_url", "resolve_secret"]


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


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
