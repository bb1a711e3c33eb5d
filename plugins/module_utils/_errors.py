# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The exceptions of the collection.

They are raised deep (transport, object model, planner) and turned into ``fail_json`` in one
place by the runner: ``module.fail_json(**error.fail_kwargs())``. ``msg`` is the readable
sentence; ``details`` are the structured fields next to it (``error_type``, ``status``,
``properties``, ``strategy``, ``option``, ``permission``...).

No exception ever carries a token, a password or a request header: the transport builds its
messages from the URL, the status and the server's answer only.
"""

from __future__ import annotations

import re


class StalwartError(Exception):
    """Base of every error of the collection: ``msg`` and structured ``details``."""

    def __init__(self, msg, core=None, **details):
        super().__init__(msg)
        self.msg = msg
        # what happened, without the advice (what the caller may do next): for a message that
        # puts this error inside a larger story, where the advice would be wrong
        self.core = core or msg
        self.details = details

    def fail_kwargs(self):
        """Keyword arguments for ``module.fail_json``: ``msg`` plus the details that are set."""
        kwargs = {key: value for key, value in self.details.items() if value is not None}
        kwargs["msg"] = self.msg
        return kwargs

    def __str__(self):
        return self.msg

    def __repr__(self):
        return f"{type(self).__name__}({self.msg!r})"


class InputError(StalwartError):
    """Bad user input, found before any request (``option``, ``strategy`` in the details)."""


class TransportError(StalwartError):
    """The server could not be reached or did not answer usefully (connection refused or reset,
    DNS, TLS, timeout, 5xx or 429 after the retries). Nothing was half-written by this request
    that a re-run would not finish, so the message says a re-run is safe."""


class WriteOutcomeUnknown(TransportError):
    """A write was sent and its answer was lost (connection dropped after sending, read timeout,
    ``serverUnavailable``): the server may or may not have applied it. The caller must read the
    current state again and write only what is still missing, never resend blindly."""


class AuthenticationError(StalwartError):
    """HTTP 401: the server refused the credentials. Never includes them."""


class PermissionDenied(StalwartError):
    """HTTP 403, or a method-level ``forbidden``; ``details["permission"]`` names the missing
    permission when it can be derived from the method."""


class EndpointNotFound(StalwartError):
    """HTTP 404 on the JMAP endpoint: there is no Stalwart JMAP API at that URL."""


class ProtocolError(StalwartError):
    """A request-level problem (RFC 7807 ``notRequest``, ``notJSON``, ``limit``) or a malformed
    answer."""


class MethodError(StalwartError):
    """A method-level error other than ``forbidden`` (``error_type``, ``description``, ``method``)."""


# x:<ObjectType>/<get|query|set>; permissions are "sys" + ObjectType + verb
# (docs/stalwart-api.md, "Errors and permissions").
_METHOD_NAME = re.compile(r"^x:(?P<object>[A-Za-z0-9]+)/(?P<verb>[a-z]+)$")
_SET_SECTION = re.compile(r"not authori[sz]ed to (?P<section>create|update|destroy) objects")
_VERBS = {"get": "Get", "query": "Query"}


def permission_for(method_name, description=None, sections=None):
    """The Stalwart permission a ``forbidden`` answer to ``method_name`` points at, or None.

    ``x:MtaConnectionStrategy/get`` gives ``sysMtaConnectionStrategyGet``. For ``/set`` the
    server's description names the section that was refused ("...not authorized to create
    objects of this type" gives ``...Create``). Without a section (the credentials have none of
    the three), the permissions of the ``sections`` that were sent are named ("create",
    "update", "destroy"), or all three when unknown. ``x:Action/set`` is the creation of an
    action, hence ``sysActionCreate``.
    """
    match = _METHOD_NAME.match(method_name or "")
    if not match:
        return None
    prefix = "sys" + match.group("object")
    verb = match.group("verb")
    if verb in _VERBS:
        return prefix + _VERBS[verb]
    if verb != "set":
        return None
    if match.group("object") == "Action":
        return prefix + "Create"
    section = _SET_SECTION.search(description or "")
    if section:
        return prefix + section.group("section").capitalize()
    if sections:
        return " and ".join(prefix + name.capitalize() for name in ("create", "update", "destroy") if name in sections)
    return f"{prefix}Create, {prefix}Update or {prefix}Destroy"


SHORTEN_LIMIT = 120
# at most this many items in one message (a failure or a warning may concern thousands); the result
# beside it lists them all
SHOWN_LIMIT = 20


def at_most(texts, separator=", "):
    """``texts`` joined, the first ``SHOWN_LIMIT`` of them, then how many more there are."""
    texts = list(texts)
    shown = separator.join(texts[:SHOWN_LIMIT])
    # names read "a, b and 3 more"; sentences (separated by "; ") "a; b; and 3 more"
    return shown if len(texts) <= SHOWN_LIMIT else f"{shown}{separator.replace(',', '')}and {len(texts) - SHOWN_LIMIT} more"


def more_than_shown(items):
    """Whether ``at_most`` leaves some of ``items`` out."""
    return len(items) > SHOWN_LIMIT


def shorten(value, limit=SHORTEN_LIMIT):
    """``value``'s ``repr`` for a message, cut to about ``limit`` characters: a 250,000-character
    name must not make a 250 KB message."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else None
    told = f", {size} characters" if isinstance(value, (str, bytes)) else (f", {size} items" if size is not None else "")
    return f"{text[:limit]}...({type(value).__name__}{told})"
