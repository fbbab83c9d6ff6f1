"""The exception tree. Every error papertrend raises on purpose is one of these.

    PapertrendError                 base; carries an HTTP status for the web layer
    ├── ConfigError                 a setting or settings file is wrong
    ├── StoreError                  the database cannot be opened or migrated
    ├── RecordError                 one input record (file + line/entry) is bad; the rest are kept
    ├── SourceError                 a whole input cannot be read (unknown format, bad XML, ...)
    │   └── RemoteError             a remote service answered badly (arXiv, GitHub, HF)
    ├── MailServerError             the SMTP server cannot be used (connection, authentication)
    ├── NotFound                    404: no such paper, page or subscriber
    ├── BadRequest                  400: a malformed date, week, query or form value
    ├── SignInRequired              401: the page needs an account (pages redirect to sign in)
    ├── Forbidden                   403: the account's role does not allow it, or a form without
    │                                    its CSRF token
    ├── TooLarge                    413: a request body over max_body_bytes
    └── TooManyRequests             429: an account or address over its rate limit
"""

from __future__ import annotations


class PapertrendError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(PapertrendError):
    pass


class StoreError(PapertrendError):
    pass


class SourceError(PapertrendError):
    """A whole input is unreadable. ``where`` names the file (and line, when known)."""

    status_code = 400

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.reason = message


class RecordError(SourceError):
    """One record is bad; importers report it and keep going."""


class RemoteError(SourceError):
    status_code = 502


class NotFound(PapertrendError):
    status_code = 404


class BadRequest(PapertrendError):
    status_code = 400


class MailServerError(PapertrendError):
    """The mail server, not a message, failed: nothing was sent and every message waits."""

    status_code = 503


class SignInRequired(PapertrendError):
    status_code = 401


class Forbidden(PapertrendError):
    status_code = 403


class TooLarge(PapertrendError):
    status_code = 413


class TooManyRequests(PapertrendError):
    status_code = 429
