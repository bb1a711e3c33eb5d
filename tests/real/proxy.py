"""A counting reverse proxy on loopback, between the collection and a server (real or simulated).

The collection is pointed at the proxy's URL; the proxy forwards every request to the server
unchanged and records what passed: the method and path, the request's size, whether it was a
session read, a JMAP read or a JMAP write (a ``/set`` with something to create, update or
destroy), the method names, and the answer's status. Request counts of the real-server suite come
from here, so that they are counted the same way for the real server and the simulator.

``on_request`` (optional) is called with each recorded entry before the request is forwarded: a
fault test uses it to stop the server while a write is on its way.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "host"}


def classify(method, path, body):
    """``session``, ``read``, ``write`` or ``other``, and the method call names of a JMAP POST."""
    if method == "GET" and path.startswith(("/jmap/session", "/.well-known/jmap")):
        return "session", []
    if method != "POST":
        return "other", []
    try:
        calls = json.loads(body).get("methodCalls") or []
    except (ValueError, AttributeError):
        return "other", []
    names = [call[0] for call in calls if isinstance(call, list) and call]
    for call in calls:
        if isinstance(call, list) and len(call) == 3 and str(call[0]).endswith("/set") and isinstance(call[1], dict):
            if call[1].get("create") or call[1].get("update") or call[1].get("destroy") or call[1].get("#destroy"):
                return "write", names
    return "read", names


class CountingProxy:
    """The proxy; a context manager. ``entries`` holds one dict per request passed through."""

    def __init__(self, target, on_request=None, lose_answer=None, hide_session=False):
        self.target = urlsplit(target)
        # ``hide_session``: answer 404 to GET /jmap/session, as a reverse proxy that passes on only
        # the JMAP endpoint does
        self.hide_session = hide_session
        self.on_request = on_request
        # ``lose_answer(entry)``: True to forward the request, then drop the connection without the
        # server's answer (the server applied it; the client cannot know)
        self.lose_answer = lose_answer
        self.entries = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.forward(self, "GET")

            def do_POST(self):
                proxy.forward(self, "POST")

            def do_OPTIONS(self):
                proxy.forward(self, "OPTIONS")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = None

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        with self.lock:
            self.entries = []

    def counts(self):
        """``{"requests", "session", "posts", "reads", "writes", "max_request_bytes", "calls": {name: n}}``."""
        with self.lock:
            entries = list(self.entries)
        calls = {}
        for entry in entries:
            for name in entry["calls"]:
                calls[name] = calls.get(name, 0) + 1
        return {
            "requests": len(entries),
            "session": sum(1 for entry in entries if entry["class"] == "session"),
            "posts": sum(1 for entry in entries if entry["method"] == "POST"),
            "reads": sum(1 for entry in entries if entry["class"] == "read"),
            "writes": sum(1 for entry in entries if entry["class"] == "write"),
            "max_request_bytes": max((entry["bytes"] for entry in entries), default=0),
            "calls": calls,
        }

    def forward(self, handler, method):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        kind, names = classify(method, urlsplit(handler.path).path, body)
        entry = {"method": method, "path": handler.path, "class": kind, "calls": names, "bytes": len(body),
                 "status": None}
        with self.lock:
            self.entries.append(entry)
        if self.on_request is not None:
            self.on_request(entry)
        if self.hide_session and method == "GET" and urlsplit(handler.path).path.rstrip("/") == "/jmap/session":
            entry["status"] = 404
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        headers = {name: value for name, value in handler.headers.items() if name.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=120)
        try:
            connection.request(method, handler.path, body=body or None, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
        except (OSError, http.client.HTTPException):
            # the server went away with the request: the client sees a dropped connection
            entry["status"] = "dropped"
            handler.close_connection = True
            return
        finally:
            connection.close()
        entry["status"] = answer.status
        if self.lose_answer is not None and self.lose_answer(entry):
            entry["status"] = "lost"
            handler.close_connection = True
            return
        handler.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
