# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What each module does, as a ``ModuleSpec`` (``_module``): its options and its operation.

- ``STRATEGY_MODULE`` (``mta_connection_strategy``): converge one strategy or a batch, with purge
  protected by the outbound strategy's ``connection`` expression.
- ``STRATEGY_INFO_MODULE`` (``mta_connection_strategy_info``): read strategies in the module's
  input form.
- ``OUTBOUND_MODULE`` (``mta_outbound_strategy``): set the outbound strategy's expressions,
  refusing a ``connection`` that routes to a strategy that does not exist.
- ``OUTBOUND_INFO_MODULE`` (``mta_outbound_strategy_info``): read them in that module's form.
- ``RELOAD_MODULE`` (``reload_settings``): one ``ReloadSettings``.
- ``DELIVERABILITY_MODULE`` (``deliverability_check``): the source IPs and EHLO names of the
  strategies against DNS (``_deliverability``, ``_dns``); reads at most once, never writes.

The operations build results (the diff, the failure messages) from the service's outcomes; the
service (``_service``) does the reading, planning and writing.
"""

from __future__ import annotations

import re

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.stalwart.mail.plugins.module_utils import (
    _deliverability,
    _dns,
    _objects,
    _planner,
    _service,
    _values,
)
from ansible_collections.stalwart.mail.plugins.module_utils._client import check_method_response
from ansible_collections.stalwart.mail.plugins.module_utils._connection import validate_connection_params
from ansible_collections.stalwart.mail.plugins.module_utils._errors import (
    InputError,
    MethodError,
    PermissionDenied,
    StalwartError,
    WriteOutcomeUnknown,
    at_most,
    more_than_shown,
    shorten,
)
from ansible_collections.stalwart.mail.plugins.module_utils._module import ModuleSpec, client_for
from ansible_collections.stalwart.mail.plugins.module_utils._objects import (
    CONNECTION_STRATEGY,
    OUTBOUND_STRATEGY,
    ItemContext,
)

STRATEGY = CONNECTION_STRATEGY
OUTBOUND = OUTBOUND_STRATEGY
OUTBOUND_PERMISSION = "sysMtaOutboundStrategyGet"


# --- input checks ----------------------------------------------------------------------------------------

SOURCE_IPS_ACCEPTED = ("each item of source_ips is a dict {ip, ehlo_hostname} (ip required, alias source_ip), "
                       "for example source_ips: [{ip: 192.0.2.10, ehlo_hostname: mx1.example.org}]")


def with_accepted(message):
    """Ansible's type errors for ``source_ips`` ("Elements value for option 'source_ips' is of type
    str ...") say what went wrong, not what is accepted: this adds it."""
    if "option 'source_ips'" in message and SOURCE_IPS_ACCEPTED not in message:
        return f"{message}; {SOURCE_IPS_ACCEPTED}"
    return message


def check_item(object_type, raw, position):
    """The shape of one object of a batch, checked by Ansible's own validator (unknown options,
    the required key, ``state``'s choices, types); its findings are reported naming the item. The
    values themselves are checked by their kinds (``_objects.normalise_item``)."""
    context = ItemContext(object_type, position)
    if not isinstance(raw, dict):
        raise context.error("", f"{_objects.not_an_item(object_type)} {shorten(raw)}")
    name = raw.get(object_type.key)
    context.name = name if isinstance(name, str) and name else None
    if isinstance(name, bool):
        return  # normalise_item says how to quote it
    spec = object_type.item_spec()
    # a missing key is left to normalise_item, whose message says what is accepted
    spec[object_type.key] = dict(spec[object_type.key], required=False)
    result = ArgumentSpecValidator(spec).validate(dict(raw))
    # the validator's error list object is always truthy: look at the messages; and it says
    # "unsupported" without the word, so that finding is worded here
    if result.unsupported_parameters:
        unknown = sorted(str(option) for option in result.unsupported_parameters)
        raise context.error(", ".join(unknown), f"unsupported option(s) {', '.join(unknown)}",
                            f"supported options of a {object_type.label}: " + ", ".join(object_type.item_spec()))
    if result.error_messages:
        raise context.error("", with_accepted(result.error_messages[0]))


def desired_strategies(params):
    """The desired strategies of the strategy module's params, checked before any request."""
    items = params.get("strategies")
    if isinstance(items, list):
        for position, raw in enumerate(items):
            check_item(STRATEGY, raw, position)
    return _objects.desired_from_params(STRATEGY, params)


def name_the_strategy(raw, message):
    """``message``, an input error of the strategy module found before any request, prefixed
    with the strategy it is about when it does not say so already: ``strategy 'bulk': ...`` in a
    task of one strategy (every option of that task is about it: a connection option too),
    ``strategies[2] (item 3): ...`` for an item of ``strategies`` that is not a dict. An error of
    a batch's own options (``purge``, a connection option) is about no single strategy and is
    returned as it is, as is one of a task that gives ``name`` and ``strategies`` both or
    neither. ``raw`` holds the parameters as the task gave them."""
    raw = raw if isinstance(raw, dict) else {}
    message = with_accepted("" if message is None else str(message))
    if message.startswith(("strategy ", "strategies[")):
        return message
    strategies = raw.get("strategies")
    if strategies is not None:
        if isinstance(strategies, list):
            for position, item in enumerate(strategies):
                if not isinstance(item, dict):
                    label = ItemContext(STRATEGY, position).label()
                    return f"{label}: {_objects.not_an_item(STRATEGY)} {shorten(item)}; {message}"
        return message
    name = raw.get("name")
    if isinstance(name, str) and name:
        return f"{ItemContext(STRATEGY, name=name).label()}: {message}"
    return message


# --- purge protection ------------------------------------------------------------------------------------


class OutboundProtection(_service.NoProtection):
    """What purge must keep: the names the outbound strategy's ``connection`` expression can
    route to, read in the same request as the strategies. ``keep`` (a list) is given by the role:
    the names of the expression it has just written, which check mode cannot read yet (so that
    check mode predicts the run), and which ``force`` does not delete (the new expression must
    never name a strategy that does not exist). In a real run the server's expression is read too,
    and what it names is kept as well (``foreign``): another host or run may have written it since,
    and it must not be left routing to a strategy this run deleted."""

    def __init__(self, keep=None, check_mode=False):
        self.keep = keep
        self.given = keep is not None
        self.check_mode = check_mode
        self.rider = None

    def riders(self):
        if self.given and self.check_mode:
            return []
        self.rider = _service.Rider(_service.singleton_get(OUTBOUND, ["connection"], call_id="outbound"))
        return [self.rider]

    def protected(self):
        routed, unknown = self._read() if self.rider is not None else (set(), None)
        if not self.given:
            return routed, unknown
        if unknown is not None:
            # the check for another writer's routes cannot be made: purge_keep decides, as in
            # check mode (and force does what it says), and a warning says so
            self.notes = [f"purge kept what purge_keep names, but could not check what the server's connection "
                          f"expression routes to by now ({unknown.cause}), should another host or run have written it"]
            return set(self.keep), None
        self.foreign = routed - set(self.keep)
        return set(self.keep) | routed, None

    def _read(self):
        try:
            connection = _service.singleton_from(OUTBOUND, self.rider.response)["connection"]
        except PermissionDenied as denied:
            return None, _planner.unreadable(
                f"the credentials lack the permission {denied.details.get('permission') or OUTBOUND_PERMISSION}")
        except MethodError as error:
            return None, _planner.unreadable(f"the server answered {error.details.get('error_type')}")
        computed = _values.EXPRESSION.computed(connection)
        if computed:
            return None, _planner.computed(*computed[0])
        # nothing stored: the server's default expression, which routes to 'default'
        return _values.EXPRESSION.names(connection), None


# --- mta_connection_strategy -----------------------------------------------------------------------------


def apply_strategies(module, client_factory=None):
    """The whole of ``mta_connection_strategy``: validate (before any request), converge, report."""
    params = module.params
    single = params.get("strategies") is None
    try:
        desired = desired_strategies(params)
        client = client_for(module, client_factory)
    except InputError as bad:
        details = dict(bad.details)
        if single and params.get("name"):
            details.setdefault("strategy", params["name"])
        raise InputError(name_the_strategy(params, bad.msg), **details) from None
    for item in desired:
        for warning in item.get("warnings") or ():
            module.warn(warning)
        if item["state"] == "absent" and item["values"]:
            module.warn(f"{item['label']}: state is absent, so the value options given with it are ignored "
                        f"({', '.join(sorted(item['values']))}); remove them, or set state: present")
    keep = params.get("purge_keep")
    outcome = _service.converge(client, STRATEGY, desired, purge=bool(params.get("purge")),
                                force=bool(params.get("force")), reload=bool(params.get("reload")),
                                check_mode=module.check_mode, warn=module.warn,
                                protection=OutboundProtection(None if keep is None else [str(name) for name in keep],
                                                              check_mode=module.check_mode),
                                assumed=[str(name) for name in params.get("assume_present") or ()])
    if outcome.failures or outcome.progress.reload_failure:
        raise strategies_failed(outcome, desired, single)
    return strategy_results(outcome, desired, single, diff=module._diff)  # pylint: disable=protected-access


def strategy_results(outcome, desired, single, diff):
    """The module's result: ``changed``, ``plan``, ``reloaded``, ``strategy`` or ``strategies``
    and, in diff mode, ``diff`` (whole objects; durations in the user's units)."""
    the_plan = outcome.plan
    present = [item["name"] for item in desired if item["state"] == "present"]
    results = {"changed": outcome.changed, "plan": the_plan.summary(), "reloaded": outcome.reloaded}
    if single:
        name = desired[0]["name"]
        obj = outcome.objects.get(name) if desired[0]["state"] == "present" else None
        results["strategy"] = STRATEGY.to_info(obj) if obj else {}
    else:
        results["strategies"] = [STRATEGY.to_info(outcome.objects[name]) for name in present
                                 if name in outcome.objects]
    if diff:
        results["diff"] = _strategy_diff(outcome, desired, single)
    return results


def _strategy_diff(outcome, desired, single):
    the_plan = outcome.plan

    def side(obj, name):
        return STRATEGY.to_info(obj, the_plan.units.get(name)) if obj else {}

    if single:
        name = desired[0]["name"]
        after = outcome.objects.get(name) if desired[0]["state"] == "present" else None
        return {"before": side(the_plan.before.get(name), name), "after": side(after, name)}
    before, after = {}, {}
    for name in list(the_plan.update) + list(the_plan.delete):
        before[name] = side(the_plan.before.get(name), name)
    for name in list(the_plan.create) + list(the_plan.update):
        after[name] = side(outcome.objects.get(name), name)
    return {"before": before, "after": after}


def strategies_failed(outcome, desired, single):
    """The failure of a run in which the server refused something: what it refused and why,
    what was applied, and a reload that was refused after applied changes."""
    progress = outcome.progress
    failures = list(progress.failures.values())
    parts = []
    if failures:
        if single:
            head = "the server refused the change"
        else:
            head = f"{len(failures)} of {outcome.plan.count} changes were refused by the server"
            head += (f" ({progress.applied_count} applied; a re-run retries the rest)" if progress.applied_count
                     else " (nothing was applied; a re-run tries again)")
        shown = at_most(map(_service.failure_text, failures), separator="; ")
        parts.append(f"{head}: {shown}" + (", all of them in failed_strategies" if more_than_shown(failures) else ""))
    if progress.reload_failure:
        parts.append(reload_refused_text(progress.reload_failure, other=bool(failures)))
    results = strategy_results(outcome, desired, single, diff=False)
    results.update(_service.failure_details(outcome))
    return _service.BatchFailed("; ".join(parts), **results)


def reload_refused_text(refused, other=False):
    what = "the other changes were applied" if other else "the changes were applied"
    return (f"{what}, but the server refused to reload its settings {_service.reload_refusal_text(refused)}. The "
            f"stored changes take effect at the next reload: {_service.RELOAD_HOW}")


STRATEGY_MODULE = ModuleSpec(
    options=dict(STRATEGY.item_spec(), name={"type": "str"},
                 strategies={"type": "list", "elements": "dict"},
                 purge={"type": "bool", "default": False},
                 purge_keep={"type": "list", "elements": "str"},
                 assume_present={"type": "list", "elements": "str"},
                 force={"type": "bool", "default": False},
                 reload={"type": "bool", "default": False}),
    operation=apply_strategies,
    mutually_exclusive=[["name", "strategies"]],
    required_one_of=[["name", "strategies"]],
    required_if=[["purge", True, ["strategies"]]],
    name_errors=name_the_strategy,
)


# --- mta_connection_strategy_info ----------------------------------------------------------------------------


def read_strategies(module, client_factory=None):
    """The whole of ``mta_connection_strategy_info``: read (never write), sorted by name. No
    ``names`` means every strategy; an empty list asks for none (nothing is read)."""
    names = module.params.get("names")
    names = None if names is None else list(dict.fromkeys(str(name) for name in names))
    client = client_for(module, client_factory)
    if names == []:
        return {"changed": False, "strategies": []}
    snapshot = _service.read(client, STRATEGY, names=names)
    if snapshot.shifted and names is None:
        module.warn("another writer changed the strategies while they were read, page by page: the list may miss "
                    "some of them; run the task again for a complete one")
    return {"changed": False, "strategies": [STRATEGY.to_info(snapshot.current[name])
                                             for name in sorted(snapshot.current)]}


STRATEGY_INFO_MODULE = ModuleSpec(
    options={"names": {"type": "list", "elements": "str", "aliases": ["name"]}},
    operation=read_strategies,
)


# --- mta_outbound_strategy ---------------------------------------------------------------------------------


def desired_outbound(params):
    """The expressions given (None: left as on the server), normalised, before any request."""
    context = ItemContext(OUTBOUND)
    values, _units = OUTBOUND.normalise_values(params, context)
    return values


def _read_outbound(client, references):
    """The outbound strategy and, in the same request, the strategies ``references`` names."""
    rider = _service.Rider(_service.singleton_get(OUTBOUND, call_id="outbound"))
    snapshot = _service.read(client, STRATEGY, names=references, riders=[rider])
    return _service.singleton_from(OUTBOUND, rider.response), snapshot


def apply_outbound(module, client_factory=None):
    """The whole of ``mta_outbound_strategy``: check the input, read the outbound strategy and the
    strategies its new ``connection`` routes to (one request), refuse a route to a strategy that
    will not exist, write the changed expressions (one request), reload when asked."""
    params = module.params
    values = desired_outbound(params)
    client = client_for(module, client_factory)
    references, going = [], []
    given = set(str(name) for name in params.get("assume_present") or ())
    if "connection" in values and params.get("check_references", True):
        # in check mode only: in a real run the task before this one has created them, or failed,
        # and another writer (a host of the same cluster that purges) may have deleted one since:
        # they are read like the others, and the expression is not written on one found gone
        assumed = given if module.check_mode else set()
        leaving = set(str(name) for name in params.get("assume_absent") or ())
        named = _values.EXPRESSION.literal_names(values["connection"])
        going = [name for name in named if name in leaving]
        references = [name for name in named if name not in assumed]  # none is leaving: going refuses those
    if going:
        # before any request: a later task deletes them (the role: its list's items set absent)
        raise InputError(
            f"the outbound strategy: connection routes to {', '.join(shorten(name) for name in going)}, which "
            f"assume_absent names (the role: state: absent in its list), so the strateg"
            f"{'y' if len(going) == 1 else 'ies'} would be deleted right after; route elsewhere, or keep "
            f"{'it' if len(going) == 1 else 'them'}", option="connection", missing=going)
    current, snapshot = _read_outbound(client, references)
    missing = [name for name in references if name not in snapshot.current]
    vanished = [name for name in missing if name in given]
    if vanished:
        # a real run: the task before this one made them, and they are gone already
        one = len(vanished) == 1
        raise InputError(
            f"the outbound strategy: connection routes to {', '.join(shorten(name) for name in vanished)}, which "
            f"assume_present names (a task before this one created {'it' if one else 'them'}), but which "
            f"do{'es' if one else ''} not exist any more: another writer deleted {'it' if one else 'them'} since, "
            f"such as a host sharing this server whose purge does not know this routing. Nothing was written. Have "
            f"the hosts that share a server route alike (or leave routing and purge to one of them), then re-run",
            option="connection", missing=missing)
    if missing:
        one = len(missing) == 1
        them = "it" if one else "them"
        raise InputError(
            f"the outbound strategy: connection routes to {len(missing)} connection strateg"
            f"{'y' if one else 'ies'} that do{'es' if one else ''} not exist: "
            f"{', '.join(shorten(name) for name in missing)}; deliveries routed there would leave with built-in "
            f"defaults and no source IP. Create {them} first (stalwart.mail.mta_connection_strategy), list {them} in "
            f"assume_present when a task before this one creates {them}, or set check_references: false",
            option="connection", missing=missing)
    the_plan = _planner.plan_singleton(OUTBOUND, current, values)
    stored, reloaded, progress = current, False, _service.Progress()
    if the_plan.changed and not module.check_mode:
        try:
            stored = _write_outbound(client, the_plan, values, progress)
        except StalwartError as error:
            if progress.lost is None:
                raise  # refused, or failed before the write was sent: nothing changed
            # the write was sent and its answer lost: it may have been applied, so changed is true
            progress.unconfirmed = list(the_plan.update)
            raise _service.ChangesFailed(
                "the outbound strategy: " + _service.changes_failed_text(error, progress, what="expressions"),
                changed=True, plan=the_plan.summary(), unconfirmed=[OUTBOUND.label]) from None
        progress.confirm("update", OUTBOUND.label)
        if params.get("reload"):
            _service.send_reload(client, progress)
            reloaded = progress.reloaded
    elif the_plan.changed:
        stored = the_plan.predicted
    results = {"changed": the_plan.changed, "plan": the_plan.summary(), "reloaded": reloaded,
               "outbound_strategy": OUTBOUND.to_info(stored)}
    if module._diff:  # pylint: disable=protected-access
        results["diff"] = {"before": {option: OUTBOUND.to_info(current)[option] for option in the_plan.update},
                           "after": {option: OUTBOUND.to_info(stored)[option] for option in the_plan.update}}
    if progress.reload_failure:
        raise _service.BatchFailed(reload_refused_text(progress.reload_failure), **results)
    return results


def _write_outbound(client, the_plan, values, progress):
    """The update, and after a lost answer a read before anything is sent again, at most
    ``retries`` rounds (``progress.lost`` keeps the first lost answer)."""
    rounds, rounds_allowed = 0, _service.recovery_rounds(client)
    while True:
        try:
            return _service.update_singleton(client, the_plan)
        except WriteOutcomeUnknown as lost:
            if progress.lost is None:
                progress.lost = lost
            rounds += 1
            if rounds > rounds_allowed:
                raise
            client.back_off(rounds, reason=f"a write's answer was lost ({lost.core})")
            current, _snapshot = _read_outbound(client, [])
            again = _planner.plan_singleton(OUTBOUND, current, values)
            if not again.changed:
                return current
            the_plan = again


# A dict, its keys left to Expression.normalise (_values.py), which names the option and the
# rule and says what is accepted. Typed sub-options made ansible-core turn a list, a dict or a
# boolean given as a name or a condition into its Python text (['a'] stored as the name "['a']"),
# and fail on a string given for the dict with a bare TypeError that named no option.
OUTBOUND_EXPRESSION_SPEC = {"type": "dict"}


def name_the_expression(raw, message):
    """``message``, an argument error of the outbound module, with what an expression option
    accepts when it is about one given as something other than a dict (ansible-core's own words
    name the option but not the form)."""
    message = "" if message is None else str(message)
    match = re.match(r"argument '(%s)' is of type" % "|".join(field.name for field in OUTBOUND.fields), message)
    if match:
        return f"{message}; {match.group(1)}: {_values.EXPRESSION_ACCEPTED}"
    return message


OUTBOUND_MODULE = ModuleSpec(
    options=dict({field.name: OUTBOUND_EXPRESSION_SPEC for field in OUTBOUND.fields},
                 check_references={"type": "bool", "default": True},
                 assume_present={"type": "list", "elements": "str", "default": []},
                 assume_absent={"type": "list", "elements": "str", "default": []},
                 reload={"type": "bool", "default": False}),
    operation=apply_outbound,
    name_errors=name_the_expression,
)


# --- mta_outbound_strategy_info ------------------------------------------------------------------------------


def read_outbound(module, client_factory=None):
    """The whole of ``mta_outbound_strategy_info``: the four expressions in the module's form."""
    client = client_for(module, client_factory)
    responses = client.post([_service.singleton_get(OUTBOUND, call_id="outbound")])
    return {"changed": False, "outbound_strategy": OUTBOUND.to_info(_service.singleton_from(OUTBOUND, responses[0]))}


OUTBOUND_INFO_MODULE = ModuleSpec(options={}, operation=read_outbound)


# --- reload_settings -----------------------------------------------------------------------------------------


def reload_settings(module, client_factory=None):
    """The whole of ``reload_settings``: one ``ReloadSettings`` (none in check mode)."""
    validate_connection_params(module.params)
    if module.check_mode:
        return {"changed": True, "reloaded": False}
    client = client_for(module, client_factory)
    # write=False: a reload is safe to repeat, so it is retried like a read, even after a lost answer
    response = client.post([list(_service.RELOAD_CALL)], write=False)
    try:
        args = check_method_response(response[0], _service.ACTION_SET)
    except PermissionDenied as denied:
        # the whole x:Action/set refused: sysActionCreate is missing, and actionReloadSettings may be
        raise PermissionDenied(
            f"the server refused to reload its settings (forbidden): the credentials need the permissions "
            f"sysActionCreate and actionReloadSettings. {_service.UNAPPLIED}", method=_service.ACTION_SET,
            error_type="forbidden", description=denied.details.get("description"),
            permission="sysActionCreate and actionReloadSettings") from None
    not_created = args.get("notCreated") or {}
    if "reload" in not_created:
        refusal = _service.reload_refusal(not_created["reload"])
        error = PermissionDenied if refusal["permission"] else MethodError
        raise error(f"the server refused to reload its settings {_service.reload_refusal_text(refusal)}. {_service.UNAPPLIED}",
                    method=_service.ACTION_SET, **{key: value for key, value in refusal.items() if value})
    return {"changed": True, "reloaded": True}


RELOAD_MODULE = ModuleSpec(options={}, operation=reload_settings)


# --- deliverability_check ----------------------------------------------------------------------------------


class DeliverabilityFailed(StalwartError):
    """``mode: fail`` and at least one error: the details carry the whole report."""


class OptionalConnectionSpec(ModuleSpec):
    """A module that talks to the server only when it has to: ``url`` is not required."""

    def argument_spec(self):
        spec = super().argument_spec()
        spec["url"] = dict(spec["url"], required=False)
        return spec


def check_deliverability(module, client_factory=None):
    """The whole of ``deliverability_check``: check the input; read the strategies from the server
    when none are given, or only what the given ones leave out (one read, none when they decide
    every pair); look up the DNS within the budget; report. Never writes."""
    params = module.params
    settings = _deliverability.Settings.from_params(params)
    given = params.get("strategies")
    desired = None if given is None else desired_strategies({"strategies": given})
    if settings.needs_dns():
        missing = _dns.load()
        if missing:
            module.fail_json(msg=missing_required_lib("dnspython"), exception=missing)
    if desired is None:
        if not params.get("url"):
            raise InputError("url: needed to read the strategies from the server (or STALWART_URL); or give the "
                             "strategies to check in strategies", option="url")
        client = client_for(module, client_factory)
        strategies = _deliverability.from_server(_service.read(client, STRATEGY).current)
    else:
        current = {}
        wanted = _deliverability.names_to_read(desired, settings)
        if wanted and params.get("url"):
            client = client_for(module, client_factory)
            current = _service.read(client, STRATEGY, names=wanted).current
        elif wanted:
            module.warn(f"strateg{'y' if len(wanted) == 1 else 'ies'} {', '.join(shorten(name) for name in wanted)}: "
                        "source_ips or ehlo_hostname left out, and no url to read them from the server: checked as "
                        "not set")
        strategies = _deliverability.from_desired(desired, current)
    lookups = _dns.Lookups(settings.resolver) if settings.needs_dns() else None
    report, pairs, answers = _deliverability.evaluate(strategies, settings, lookups.run if lookups else dict)
    results = {"changed": False, "findings": report.findings, "messages": report.messages,
               "summary": report.summary(), "pairs": _deliverability.checked_pairs(pairs, answers),
               "skipped_checks": _deliverability.skipped_checks(settings), "mode": settings.mode}
    errors = []
    for finding, message in zip(report.findings, report.messages):
        if finding["severity"] == "error" and settings.mode == "fail":
            errors.append(message)
        elif finding["severity"] != "info":
            module.warn(f"deliverability {finding['severity']}: {message}")
    if errors:
        numbered = " ".join(f"({index}) {message}" for index, message in enumerate(errors, start=1))
        raise DeliverabilityFailed(f"{len(errors)} deliverability error{'s' if len(errors) > 1 else ''}: {numbered}",
                                   **results)
    return results


DELIVERABILITY_RESOLVER_SPEC = {"type": "dict", "options": {
    "nameservers": {"type": "list", "elements": "str"},
    "port": {"type": "int", "default": _dns.DEFAULTS["port"]},
    "timeout": {"type": "float", "default": _dns.DEFAULTS["timeout"]},
    "lifetime": {"type": "float", "default": _dns.DEFAULTS["lifetime"]},
    "tcp": {"type": "bool", "default": _dns.DEFAULTS["tcp"]},
    "budget": {"type": "float", "default": _dns.DEFAULTS["budget"]}}}

# the options of deliverability_check that take a dictionary, and the form each one takes
DELIVERABILITY_DICTS = {"resolver": "{" + ", ".join(DELIVERABILITY_RESOLVER_SPEC["options"]) + "}",
                        "public_ips": "{private IP: public IP}",
                        "probe": "(the registered result of stalwart.mail.source_ip_probe)"}
DELIVERABILITY_ITEM = "a strategy as mta_connection_strategy takes one: {name, ehlo_hostname, source_ips}"


def name_the_deliverability_input(raw, message):
    """``message``, an argument error of ``deliverability_check``, naming the option, the item and
    the form accepted where ansible-core's own words do not (a dictionary given as text, an item of
    ``strategies`` that is not a dictionary)."""
    message = "" if message is None else str(message)
    raw = raw if isinstance(raw, dict) else {}
    if "could not parse JSON or key=value" in message:
        for option, accepted in DELIVERABILITY_DICTS.items():
            value = raw.get(option)
            if value is not None and not isinstance(value, dict):
                return f"{option}: expected a dictionary {accepted}, got {shorten(value)}"
    if "'strategies'" in message:
        items = raw.get("strategies")
        for position, item in enumerate(items if isinstance(items, list) else ()):
            if not isinstance(item, dict):
                return f"strategies[{position}] (item {position + 1}): expected a dictionary, {DELIVERABILITY_ITEM}; " \
                       f"got {shorten(item)}"
        if not isinstance(items, list):
            return f"strategies: expected a list, each item {DELIVERABILITY_ITEM}; got {shorten(items)}"
        return f"{message}; strategies: a list, each item {DELIVERABILITY_ITEM}"
    return message


DELIVERABILITY_MODULE = OptionalConnectionSpec(
    options={"strategies": {"type": "list", "elements": "dict"},
             "checks": {"type": "list", "elements": "str", "choices": list(_deliverability.CHECKS)},
             "public_ips": {"type": "dict", "default": {}},
             "default_ehlo": {"type": "str"},
             "resolver": DELIVERABILITY_RESOLVER_SPEC,
             "mode": {"type": "str", "choices": list(_deliverability.MODES), "default": "warn"},
             "probe": {"type": "dict"},
             "host_addresses": {"type": "list", "elements": "str", "default": []}},
    operation=check_deliverability,
    name_errors=name_the_deliverability_input,
)
