# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _errors
from ansible_collections.stalwart.mail.plugins.module_utils._errors import permission_for

ALL_THREE = ("sysMtaConnectionStrategyCreate, sysMtaConnectionStrategyUpdate or "
             "sysMtaConnectionStrategyDestroy")


@pytest.mark.parametrize("method,description,expected", [
    ("x:MtaConnectionStrategy/get", None, "sysMtaConnectionStrategyGet"),
    ("x:MtaConnectionStrategy/query", "You are not authorized to perform this action", "sysMtaConnectionStrategyQuery"),
    ("x:MtaConnectionStrategy/set", "You are not authorized to create objects of this type",
     "sysMtaConnectionStrategyCreate"),
    ("x:MtaConnectionStrategy/set", "You are not authorized to update objects of this type",
     "sysMtaConnectionStrategyUpdate"),
    ("x:MtaConnectionStrategy/set", "You are not authorized to destroy objects of this type",
     "sysMtaConnectionStrategyDestroy"),
    ("x:MtaConnectionStrategy/set", "You are not authorized to create, update or destroy objects of this type",
     ALL_THREE),
    ("x:MtaConnectionStrategy/set", None, ALL_THREE),
    ("x:MtaOutboundStrategy/get", None, "sysMtaOutboundStrategyGet"),
    ("x:Action/set", "You are not authorized to create objects of this type", "sysActionCreate"),
    ("x:Action/set", None, "sysActionCreate"),
    ("Mailbox/get", None, None),
    ("x:MtaConnectionStrategy/changes", None, None),
    ("", None, None),
    (None, None, None),
])
def test_permission_for(method, description, expected):
    assert permission_for(method, description) == expected


def test_fail_kwargs_has_msg_and_drops_unset_details():
    error = _errors.MethodError("refused", error_type="invalidPatch", properties=["ehloHostname"],
                                existing_id=None, strategy="bulk")
    assert error.fail_kwargs() == {"msg": "refused", "error_type": "invalidPatch",
                                   "properties": ["ehloHostname"], "strategy": "bulk"}
    assert str(error) == "refused"
    assert error.msg == "refused"


def test_details_cannot_override_msg():
    assert _errors.InputError("readable", option="url").fail_kwargs() == {"msg": "readable", "option": "url"}


@pytest.mark.parametrize("name,parent", [
    ("InputError", "StalwartError"),
    ("TransportError", "StalwartError"),
    ("WriteOutcomeUnknown", "TransportError"),
    ("AuthenticationError", "StalwartError"),
    ("PermissionDenied", "StalwartError"),
    ("EndpointNotFound", "StalwartError"),
    ("ProtocolError", "StalwartError"),
    ("MethodError", "StalwartError"),
])
def test_hierarchy(name, parent):
    assert issubclass(getattr(_errors, name), getattr(_errors, parent))
    assert issubclass(getattr(_errors, name), Exception)


def test_auth_and_permission_are_not_transport_errors():
    """The runner retries nothing itself, but it must not mistake a refusal for a network fault."""
    for name in ("AuthenticationError", "PermissionDenied", "MethodError", "InputError"):
        assert not issubclass(getattr(_errors, name), _errors.TransportError)
