"""DNS servers for the deliverability tests, on 127.0.0.1 and an ephemeral port, in a thread.

    with ZoneServer('''
        warm1.example.org.          60 IN A    192.0.2.20
        20.2.0.192.in-addr.arpa.    60 IN PTR  warm1.example.org.
    ''') as dns:
        resolver = {"nameservers": ["127.0.0.1"], "port": dns.port}
        ...
        dns.queries          # every question asked, as (name, type), in arrival order

- ``ZoneServer``: answers from a zone text (dnslib's ``ZoneResolver``: NXDOMAIN for a name that has
  no record of the type asked, where a real server would answer NODATA; the module treats both as
  "no record"). ``servfail`` names answer SERVFAIL; ``delay`` holds every answer that long (the
  server answers each question in its own thread, so concurrent questions overlap).
- ``BlackHole``: a UDP socket that reads every question and never answers (a resolver that drops
  queries); it counts them too.

Both count the questions they get, so that a test can say "no DNS query at all". Nothing listens
on any address but 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time

from dnslib import QTYPE, RCODE, DNSError, DNSRecord
from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

LOOPBACK = "127.0.0.1"


class _CountingResolver(ZoneResolver):
    """``ZoneResolver`` that records each question, and can answer SERVFAIL, wait, or drop."""

    def __init__(self, zone, owner):
        super().__init__(zone)
        self.owner = owner

    def resolve(self, request, handler):
        name = str(request.q.qname).rstrip(".").lower()
        kind = QTYPE[request.q.qtype]
        self.owner.record(name, kind)
        if self.owner.drop:
            raise DNSError("dropped by the test")  # the handler logs it and sends nothing
        if self.owner.delay:
            time.sleep(self.owner.delay)
        if name in self.owner.servfail:
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        return super().resolve(request, handler)


class _Counter:
    def __init__(self):
        self._lock = threading.Lock()
        self.queries = []

    def record(self, name, kind):
        with self._lock:
            self.queries.append((name, kind))

    def asked(self, name=None, kind=None):
        """How many questions were asked (about ``name``, of type ``kind``, when given)."""
        with self._lock:
            return sum(1 for asked_name, asked_kind in self.queries
                       if (name is None or asked_name == name) and (kind is None or asked_kind == kind))


class ZoneServer(_Counter):
    """A UDP DNS server answering from ``zone`` on 127.0.0.1 and an ephemeral port."""

    def __init__(self, zone, servfail=(), delay=0.0):
        super().__init__()
        self.servfail = {name.rstrip(".").lower() for name in servfail}
        self.delay = delay
        self.drop = False
        self._server = DNSServer(_CountingResolver(zone, self), address=LOOPBACK, port=0,
                                 logger=DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data"))
        self.port = self._server.server.server_address[1]

    @property
    def resolver(self):
        """The module's ``resolver`` option pointing at this server, with short timeouts."""
        return {"nameservers": [LOOPBACK], "port": self.port, "timeout": 1.0, "lifetime": 2.0, "budget": 5.0}

    def __enter__(self):
        self._server.start_thread()
        return self

    def __exit__(self, *exc_info):
        self._server.stop()
        self._server.server.server_close()


class BlackHole(_Counter):
    """A UDP socket on 127.0.0.1 that takes every DNS question and answers none."""

    def __init__(self):
        super().__init__()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((LOOPBACK, 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="dns-black-hole")

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, _peer = self._socket.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                question = DNSRecord.parse(data).q
                self.record(str(question.qname).rstrip(".").lower(), QTYPE[question.qtype])
            except DNSError:
                self.record("?", "?")

    @property
    def resolver(self):
        return {"nameservers": [LOOPBACK], "port": self.port}

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(2)
        self._socket.close()
