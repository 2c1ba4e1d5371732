"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the e-mail tests.

It can refuse an address for good (550), hang up after some messages (421, as a server
shutting down does), be stopped, and be started again on the same port.
"""

import email
import email.policy
import threading
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.conftest import free_port


class Handler:
    def __init__(self):
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self.busy: set[str] = set()  # "mailbox busy, try later"
        self.hang_up_after: int | None = None
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.hang_up_after is not None and len(self.received) >= self.hang_up_after:
            return "421 4.3.2 Service shutting down, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        if address.lower() in self.busy:
            return "452 4.2.2 Mailbox full, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.received.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 OK: queued"


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.handler = Handler()
        self.controller: Controller | None = None

    def start(self) -> "SmtpServer":
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[EmailMessage]:
        return self.handler.received

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.received]

    def settings(self, **extra) -> dict:
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_USE_TLS": False,
                "MAIL_FROM": "didactics@hospital.example", "MAIL_TIMEOUT": 5, **extra}  # fmt: skip
