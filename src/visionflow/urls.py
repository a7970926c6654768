"""Keep credentials out of logs, errors, health snapshots and ``repr``: URL masking.

Camera and broker URLs may carry a password in their userinfo
(``rtsp://admin:s3cret@cam``, ``redis://:s3cret@host``). Every message that
shows a URL passes it through :func:`mask_url` first; text that came from a
foreign library (an FFmpeg error) goes through :func:`mask_text`, which also
removes the literal password wherever it appears.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
"""What a hidden secret is replaced with."""

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")


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


def url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo (percent-decoded), or None."""
    match = _USERINFO.search(url)
    if match is None:
        return None
    raw = match.group(0)[len(match["scheme"]) + len(match["user"]) + 1 : -1]
    return raw or None


def mask_text(text: str, url: str) -> str:
    """``text`` with every URL masked and ``url``'s password removed wherever it appears.

    Use it on messages from foreign libraries that may echo the URL in
    another form (decoded, re-quoted, without its scheme).
    """
    masked = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    password = url_password(url)
    if password:
        for form in {password, unquote(password)}:
            if len(form) >= 3:  # a 1-2 character password would mask random letters
                masked = masked.replace(form, MASK)
    return masked
