"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and can misbehave."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections import deque
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[EmailMessage] = []
        self.faults: deque[str] = deque()     # "451", "550", "drop"
        self.rcpt_reply: str | None = None    # answer every RCPT with this (e.g. "550 5.7.1 relaying denied")
        self.delay = delay

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        fault = self.faults.popleft() if self.faults else None
        if fault == "451":
            return "451 4.3.0 try again later"
        if fault == "550":
            return "550 5.1.1 no such user"
        if fault == "drop":
            session.transport.abort() if hasattr(session, "transport") else server.transport.abort()
            return "421 closing"
        if self.delay:
            await asyncio.sleep(self.delay)
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpSink:
    """``password``: the server requires AUTH and accepts only that password; ``smtputf8``:
    whether it offers SMTPUTF8 in EHLO."""

    def __init__(self, delay: float = 0.0, password: str | None = None, smtputf8: bool = True) -> None:
        self.handler = Handler(delay)
        self.port = free_port()
        extra: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
        if password is not None:
            def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and data.password.decode() == password
                return AuthResult(success=ok, handled=False)  # let aiosmtpd answer 235 or 535
            # AUTH offered on plain loopback (auth_required would warn about missing TLS).
            extra.update(authenticator=check, auth_require_tls=False)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **extra)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while len(self.handler.messages) < n and time.monotonic() < end:
            time.sleep(0.02)


class StalledServer:
    """A server that accepts connections and never says a word: a mail server that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self) -> "StalledServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()
