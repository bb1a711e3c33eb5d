"""Step 1 of a throwaway server (see ``server.py``): run inside a network namespace of its own.

    unshare -n -- python _recovery.py BINARY CONFIG PORT LOG

Brings the namespace's loopback up, boots the server in recovery mode (administrator from
``STALWART_RECOVERY_ADMIN``, listening on ``[::]:PORT`` of this namespace only), and stores what the
normal boot needs: one HTTP listener on ``127.0.0.1:PORT``, a console tracer, no start-up
downloads, no rate limits. Then stops the server (SIGTERM) and exits 0, or 1 with the reason.
Standard library only: it runs under whatever Python runs the tests.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up():
    """``ip link set lo up``, without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def main(binary, config, port, log_path):
    loopback_up()
    user, _colon, password = os.environ["STALWART_RECOVERY_ADMIN"].partition(":")
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    base = f"http://127.0.0.1:{port}"

    def post(method_calls):
        body = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"],
                           "methodCalls": method_calls}).encode()
        request = urllib.request.Request(f"{base}/jmap/", data=body, method="POST",
                                         headers={"Authorization": auth, "Content-Type": "application/json"})
        # A 401 here was once taken for a transient of a fresh recovery boot; the cause found since
        # was a password starting with "_" (read by the server as a crypt hash, see server.py).
        # The retry stays, bounded, in case a boot is slow to take the recovery administrator.
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read())["methodResponses"]
            except urllib.error.HTTPError as error:
                if error.code != 401 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def set_one(object_type, arguments):
        [[name, result, _id]] = post([[f"x:{object_type}/set", arguments, "s"]])
        failed = result.get("notCreated") or result.get("notUpdated") if name != "error" else result
        if name == "error" or failed:
            raise RuntimeError(f"x:{object_type}/set {json.dumps(arguments)}: {json.dumps(result)}")
        return result

    with open(log_path, "ab") as log:
        server = subprocess.Popen([binary, "--config", config], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the server exited ({server.returncode}) in recovery mode")
                try:
                    with urllib.request.urlopen(f"{base}/jmap/session", timeout=2):
                        break
                except (OSError, urllib.error.URLError):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the server did not answer in recovery mode within 60 s") from None
                    time.sleep(0.1)
            # the one listener of the normal boot: HTTP on loopback, no TLS, no shared port
            set_one("NetworkListener", {"create": {"http": {
                "name": "http", "protocol": "http", "bind": {f"127.0.0.1:{port}": True},
                "useTls": False, "tlsImplicit": False, "socketReusePort": False}}})
            set_one("Tracer", {"create": {"console": {
                "@type": "Stdout", "enable": True, "level": "info", "buffered": False, "ansi": False}}})
            # start-up downloads off: the web admin bundle (disabled, not deleted: a boot re-creates
            # a missing one), the ASN database, the spam rules
            [[_name, applications, _id]] = post([["x:Application/get", {"ids": None}, "a"]])
            for application in applications.get("list") or ():
                set_one("Application", {"update": {application["id"]: {"enabled": False}}})
            # singletons: "create" stores them (an update equal to the default would not be stored,
            # and the next boot would insert its own default)
            set_one("Asn", {"create": {"asn": {"@type": "Disabled"}}})
            set_one("SpamSettings", {"create": {"spam": {"spamFilterRulesUrl": None}}})
            set_one("Http", {"create": {"http": {"rateLimitAuthenticated": None, "rateLimitAnonymous": None}}})
            set_one("Security", {"create": {"security": {"authBanRate": None}}})
            # Pyzor's server is looked up by name when the settings are built: offline that fails,
            # and a failed build makes every ReloadSettings answer validationFailed
            set_one("SpamPyzor", {"create": {"pyzor": {"enable": False, "host": "127.0.0.1"}}})
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:5])
    except Exception as error:  # noqa: BLE001 - the caller shows the reason
        print(f"recovery boot failed: {error}", file=sys.stderr)
        sys.exit(1)
