# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The connection options of every module. The argument spec comes from
# plugins/module_utils/_connection.py (CONNECTION_OPTIONS); a unit test
# (tests/unit/plugins/module_utils/test__connection.py) holds the two together.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Stalwart server, for example V(https://mail.example.com), without the API's path
        (V(/jmap)), a query or a fragment. A path is kept for a server behind a reverse proxy's prefix.
      - Must start with V(http://) or V(https://), and hold no credentials (V(user:password@)); those go in
        O(username) and O(password), or use O(token).
      - If not set, the value of the E(STALWART_URL) environment variable is used.
      - The JMAP endpoint is discovered from the session resource V({url}/jmap/session); where the
        server has none, V({url}/api) is used. See O(api_url).
    type: str
    required: true
  api_url:
    description:
      - The JMAP endpoint to post to, instead of the session's C(apiUrl) (or V({url}/api)).
      - Only needed when the server (or a proxy in front of it) serves the JMAP API elsewhere.
      - The session resource V({url}/jmap/session) is still read, for the server's limits
        (C(maxObjectsInGet), C(maxObjectsInSet), C(maxCallsInRequest)), so O(url) must reach the server too.
      - If not set, the value of the E(STALWART_API_URL) environment variable is used.
    type: str
  token:
    description:
      - Bearer token (a Stalwart API key) to authenticate with. Surrounding white space (a vaulted
        value's trailing newline) is ignored; a token with a space or a character that is not ASCII
        inside is refused before any request.
      - Mutually exclusive with O(token_file), O(username), O(password) and O(password_file).
      - If no credential option is set, the value of the E(STALWART_TOKEN) environment variable is
        used. An option set on the task always wins over the environment.
    type: str
  token_file:
    description:
      - Path of a file holding the Bearer token; surrounding white space and the trailing newline are
        ignored. The file must not be empty.
      - Mutually exclusive with O(token), O(username), O(password) and O(password_file).
      - If no credential option is set, the value of the E(STALWART_TOKEN_FILE) environment variable
        is used.
    type: path
  username:
    description:
      - User name for HTTP Basic authentication (Stalwart logins are email addresses); it may not
        hold V(:). The user name and the password are sent as UTF-8, as Stalwart reads them.
      - Needs O(password) or O(password_file). Mutually exclusive with O(token) and O(token_file).
      - If not set, the value of the E(STALWART_USER) environment variable is used, unless O(token) or
        O(token_file) is set.
    type: str
  password:
    description:
      - Password (or app password) for HTTP Basic authentication.
      - Mutually exclusive with O(password_file), O(token) and O(token_file).
      - If not set, the value of the E(STALWART_PASSWORD) environment variable is used, unless
        O(token), O(token_file) or O(password_file) is set.
    type: str
  password_file:
    description:
      - Path of a file holding the password for HTTP Basic authentication; the trailing newline is
        ignored.
      - Mutually exclusive with O(password), O(token) and O(token_file).
      - If not set, the value of the E(STALWART_PASSWORD_FILE) environment variable is used, unless
        O(token), O(token_file) or O(password) is set.
    type: path
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate.
      - Set to V(false) only for a lab; prefer O(ca_path) for a private CA.
      - If not set, the value of the E(STALWART_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - Path of a CA bundle (PEM) to verify the server's certificate with, instead of the system's
        trusted CAs.
      - If not set, the value of the E(STALWART_CA_PATH) environment variable is used.
    type: path
  timeout:
    description:
      - Seconds to wait to connect, and then for each piece of the answer (the timeout of the Python
        library C(requests)), so an answer that keeps trickling in can take longer as a whole. Must be
        greater than 0 and at most V(86400) (a day).
    type: float
    default: 30
  retries:
    description:
      - How many times a request is retried after a transient failure (connection refused, HTTP 429,
        502, 503, 504, HTTP 400 C(maxConcurrentRequests), JMAP C(serverUnavailable)), with exponential
        backoff; HTTP 429 waits what the server asks in C(Retry-After), at most 30 seconds. At most V(100).
      - A write whose answer was lost is never sent again; the module reads the server's state again
        and writes only what is still missing, at most O(retries) rounds.
      - V(0) means no retry; a write whose answer was lost then fails the task at once, with
        C(changed=true) and the write's objects in C(unconfirmed).
    type: int
    default: 3
notes:
  - The token and the password never appear in messages, return values, diffs or warnings.
  - Over V(http://) to a host that is not loopback, the credentials travel in clear text; the
    module warns.
requirements:
  - requests
"""
