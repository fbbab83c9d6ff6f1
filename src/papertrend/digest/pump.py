"""A background sender for a web process: mail that requests queue (confirmations, sign-in
links) leaves from here, never from inside a request, so a mail server that stalls or refuses
us can slow this thread and nothing else."""

from __future__ import annotations

import logging
import threading

from ..config import Settings
from ..errors import MailServerError
from ..store import Store
from .mailer import SMTPUTF8_STATE, SmtpTransport, deliver, record_capabilities

log = logging.getLogger("papertrend.mail")


class MailPump:
    """Sends due outbox messages when nudged, and every ``interval`` seconds in case another
    process queued some (retries fall due too). Started on the first nudge."""

    def __init__(self, store: Store, settings: Settings, interval: float = 30.0) -> None:
        self.store, self.settings, self.interval = store, settings, interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def nudge(self) -> None:
        if not self.settings.web_sends_mail:
            return  # a worker (`papertrend worker`) sends the mail of this deployment
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()  # a pump stopped by one app lifespan may serve the next
                self._thread = threading.Thread(target=self._run, name="papertrend-mail", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _probe(self) -> None:
        """Learn once whether the server takes SMTPUTF8, so the subscribe form knows before the
        first message is sent."""
        if not self.settings.smtp_host or self.store.coordination.get_state(SMTPUTF8_STATE) is not None:
            return
        transport = SmtpTransport(self.settings)
        try:
            record_capabilities(self.store, transport)
        finally:
            transport.close()

    def _run(self) -> None:
        try:
            self._probe()
        except MailServerError as exc:
            self.last_error = exc.message
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any one failure
            log.exception("mail: probing the server failed")
            self.last_error = str(exc)
        wait = self.interval
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                deliver(self.store, self.settings)
                self.last_error, wait = None, self.interval
            except MailServerError as exc:
                # Every message stays queued; try again later, and let the operator see why.
                self.last_error = exc.message
                log.warning("mail not sent: %s", exc.message)
                wait = min(self.interval * 4, 300.0)
            except Exception as exc:  # noqa: BLE001 - e.g. the database busy: claimed rows were released
                log.exception("mail: a sending run failed")
                self.last_error = str(exc)
                wait = min(self.interval * 4, 300.0)
