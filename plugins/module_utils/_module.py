# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One module base for every module of the collection.

A module is a ``ModuleSpec`` (its own options, their constraints, and the operation that does
its work) plus a two-line ``main``. The base owns what every module shares: the connection
options (``_connection``), building the client, check and diff mode as the operation sees them,
turning the collection's exceptions into ``fail_json`` with their structured fields, and naming
the object an input error is about (``strategy 'bulk': ...``), also when Ansible's own argument
validation finds it.

The operation takes a module (an ``AnsibleModule``, or anything with the same ``params``,
``check_mode``, ``_diff``, ``warn``, ``no_log_values``) and a ``client_factory`` and returns the
result dict: it knows nothing of how it was called, so the same code runs in a module process
and in the controller's worker, where each module's action plugin runs it with an
``AnsibleModule`` look-alike (``plugins/plugin_utils/_worker_action.py``).
"""

from __future__ import annotations

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.stalwart.mail.plugins.module_utils._connection import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    client_from_module,
    connection_argument_spec,
    url_secrets,
)
from ansible_collections.stalwart.mail.plugins.module_utils._errors import StalwartError


class ModuleSpec:
    """What one module is: its options (the connection options are added), their constraints, the
    ``operation(module, client_factory) -> results`` that does the work, and ``name_errors(raw
    params, message) -> message``, which names the object an argument error is about."""

    def __init__(self, options, operation, mutually_exclusive=(), required_one_of=(), required_if=(),
                 name_errors=None):
        self.options = options
        self.operation = operation
        self.mutually_exclusive = [list(group) for group in mutually_exclusive]
        self.required_one_of = [list(group) for group in required_one_of]
        self.required_if = [list(rule) for rule in required_if]
        self.name_errors = name_errors

    def argument_spec(self):
        spec = connection_argument_spec()
        spec.update(self.options)
        return spec

    def kwargs(self):
        """The ``AnsibleModule`` keyword arguments."""
        kwargs = {"argument_spec": self.argument_spec(),
                  "mutually_exclusive": self.mutually_exclusive + [list(pair) for pair in CONNECTION_MUTUALLY_EXCLUSIVE],
                  "supports_check_mode": True}
        if self.required_one_of:
            kwargs["required_one_of"] = self.required_one_of
        if self.required_if:
            kwargs["required_if"] = self.required_if
        return kwargs


class StalwartModule(AnsibleModule):
    """``AnsibleModule`` whose argument-validation failures name the object they are about, like
    the collection's other input errors: only the public ``fail_json`` is overridden. While the
    arguments are being checked, the message goes through the spec's ``name_errors`` with the
    parameters as the task gave them (``basic._load_params``, which ansible-core provides for
    modules that need them: by the time validation fails, a bad item of a list is no longer in
    ``self.params``)."""

    def __init__(self, spec):
        self._spec = spec
        self._checking = True
        self._held_warnings = []
        super().__init__(**spec.kwargs())
        self._checking = False

    def warn(self, warning):
        """Held until the module ends, then masked with every ``no_log`` value known by then, as
        the worker path does: ansible-core 2.19 and later keep a warning as an object that the
        result's masking does not reach, and a secret (read from a file, say) may become known
        after the warning was made."""
        if getattr(self, "_checking", True) or self._held_warnings is None:
            super().warn(warning)  # while the arguments are checked, or once the module is ending
        else:
            self._held_warnings.append(warning)

    def _release_warnings(self):
        held, self._held_warnings = self._held_warnings or [], None
        for warning in held:
            super().warn(remove_values(warning, self.no_log_values))

    def exit_json(self, **kwargs):
        self._release_warnings()
        super().exit_json(**kwargs)

    def fail_json(self, msg=None, **kwargs):
        if getattr(self, "_checking", False) and self._spec.name_errors is not None:
            try:
                raw = basic._load_params()  # pylint: disable=protected-access
            except Exception:  # noqa: BLE001 - naming is a courtesy; never hide the real error
                raw = dict(self.params or {})
            msg = self._spec.name_errors(raw, msg)
        self._release_warnings()
        super().fail_json(msg=msg, **kwargs)


def client_for(module, client_factory=None):
    """The JMAP client for the module's connection options (``client_factory`` in tests)."""
    if client_factory is not None:
        return client_factory(module)
    return client_from_module(module)


def run(spec, module=None, client_factory=None):
    """Run ``spec``'s operation in ``module`` (a ``StalwartModule`` of the spec when None) and
    exit with its results (with ``retried_requests``, how many requests were sent again after a
transient failure), or fail with the error's message and structured fields. No traceback:
    the message is the whole story (and ansible-core 2.19 would otherwise attach the active
    exception)."""
    module = module if module is not None else StalwartModule(spec)
    clients = []

    def counted(module_):
        client = client_for(module_, client_factory)
        clients.append(client)
        return client

    # a password written into url or api_url: masked before anything can fail and show the
    # option (reload_settings, and a check that refuses the URL, fail before a client exists)
    for secret in url_secrets(module.params):
        module.no_log_values.add(secret)
    error = None
    try:
        results = spec.operation(module, counted)
    except StalwartError as caught:
        error = caught
    # every retry was also a warning with its reason; the count is for playbooks that check it
    retried = {"retried_requests": sum(getattr(client, "requests_retried", 0) for client in clients)}
    # a no_log option given as white space only (token: " ") is no secret, and refused as such:
    # masked, its blanks would turn the message that says so into asterisks
    module.no_log_values.difference_update([value for value in list(module.no_log_values)
                                            if isinstance(value, str) and not value.strip()])
    if error is not None:
        module.fail_json(**error.fail_kwargs(), **retried)
    module.exit_json(**results, **retried)
