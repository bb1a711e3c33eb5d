"""The routes filter of the role: layers appended in sorted variable-name order; each route and the
route default checked as the outbound module checks its names, so that the role can fail on a
malformed one before it writes anything."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stalwart.mail.plugins.filter.merge_routes import FilterModule, merge_routes

BASE = "stalwart_mta_connection_routes"
GMAIL = {"if": "rcpt_domain == 'gmail.com'", "strategy": "gmail"}


def test_the_filter_is_registered_under_its_documented_name():
    assert FilterModule().filters()["merge_routes"] is merge_routes


def test_layers_are_appended_in_sorted_string_order_after_the_plain_list():
    layers = {BASE + "__9_late": [{"if": "c", "strategy": "late"}],
              BASE + "__10_a": [{"if": "b", "strategy": "a"}],
              BASE: [{"if": "a", "strategy": "plain"}, {"if": "a2", "strategy": "plain2"}],
              BASE + "__empty": None}
    assert merge_routes(layers) == [{"if": "a", "then": "plain"}, {"if": "a2", "then": "plain2"},
                                    {"if": "b", "then": "a"}, {"if": "c", "then": "late"}]


@pytest.mark.parametrize("strategy, name", [(2024, "2024"), (1.5, "1.5"), ("it's", "it's"), ('say "hi"', 'say "hi"')])
def test_a_number_is_taken_as_its_text_and_a_name_with_one_kind_of_quote_is_kept(strategy, name):
    assert merge_routes({BASE: [{"if": "a", "strategy": strategy}]}) == [{"if": "a", "then": name}]


def test_the_rules_of_the_info_module_paste_in_as_they_are():
    """mta_outbound_strategy_info returns rules as {if, then}: a server's routing carries into the
    role's routes without renaming a key."""
    rules = [{"if": "rcpt_domain == 'example.net'", "then": "legacy"},
             {"if": "is_local_domain(rcpt_domain)", "then": "local"}]
    assert merge_routes({BASE: rules, BASE + "__20": [GMAIL]}) == rules + [{"if": GMAIL["if"], "then": "gmail"}]


@pytest.mark.parametrize("route, message", [
    ({"if": "", "strategy": "x"}, f"{BASE}[0]: if must be a non-empty string"),
    ({"if": "   ", "strategy": "x"}, f"{BASE}[0]: if must be a non-empty string"),
    ({"if": None, "strategy": "x"}, f"{BASE}[0]: if must be a non-empty string"),
    ({"if": True, "strategy": "x"}, f"{BASE}[0]: if must be a condition (a string), got the boolean true"),
    ({"if": ["a"], "strategy": "x"}, f"{BASE}[0]: if must be a non-empty string"),
    ({"strategy": "x"}, f"{BASE}[0]: if must be a non-empty string"),
    ({"if": "a"}, f"{BASE}[0]: strategy must be a non-empty string"),
    ({"if": "a", "strategy": None}, f"{BASE}[0]: strategy must be a non-empty string"),
    ({"if": "a", "strategy": ""}, f"{BASE}[0]: strategy must be a non-empty string (a strategy name), got ''"),
    ({"if": "a", "strategy": ["x"]}, f"{BASE}[0]: strategy must be a non-empty string (a strategy name), got ['x']"),
    ({"if": "a", "strategy": True}, f"{BASE}[0]: strategy: the strategy must be a name, got the boolean true"),
    ({"if": "a", "strategy": "a\\b"}, "cannot be written as a string literal"),
    ({"if": "a", "strategy": "it's \"x\""}, "cannot be written as a string literal"),
    ({"if": "a", "strategy": "x", "then": "y"}, f"{BASE}[0] has both strategy and then (its alias): give one"),
    ({"if": "a", "then": ""}, f"{BASE}[0]: then must be a non-empty string"),
    ({"if": "a", "then_expr": "'local-' + rcpt_domain"}, f"{BASE}[0]: then_expr (a strategy name computed per "
                                                         "delivery) cannot be a route of the role"),
    ({"if": "a", "strategy": "x", "else": "y"}, f"{BASE}[0] has unknown key(s) else"),
    ("rcpt_domain == 'gmail.com'", f"{BASE}[0] must be a dictionary"),
])
def test_a_malformed_route_fails_naming_the_variable_and_the_route(route, message):
    with pytest.raises(AnsibleFilterError) as raised:
        merge_routes({BASE: [route]})
    assert message in str(raised.value)


def test_a_layer_that_is_not_a_list_fails_naming_it():
    with pytest.raises(AnsibleFilterError, match=rf"^{BASE}__5 must be a list of routes"):
        merge_routes({BASE + "__5": {"if": "a", "strategy": "x"}})


@pytest.mark.parametrize("default", [None, "", "bulk", 2024])
def test_a_route_default_that_is_a_name_or_not_set_passes_and_is_not_in_the_result(default):
    assert merge_routes({BASE: [GMAIL]}, default=default) == [{"if": GMAIL["if"], "then": "gmail"}]


@pytest.mark.parametrize("default, message", [
    (["x2"], "stalwart_mta_connection_route_default must be a non-empty string (a strategy name), got ['x2']"),
    ({"name": "x"}, "stalwart_mta_connection_route_default must be a non-empty string"),
    ("  ", "stalwart_mta_connection_route_default must be a non-empty string"),
    (False, "stalwart_mta_connection_route_default: the strategy must be a name, got the boolean false"),
    ("a\\b", "stalwart_mta_connection_route_default: the name 'a\\\\b' cannot be written as a string literal"),
])
def test_a_malformed_route_default_fails_naming_the_variable(default, message):
    with pytest.raises(AnsibleFilterError) as raised:
        merge_routes({}, default=default)
    assert message in str(raised.value)


def test_a_route_or_the_route_default_to_a_strategy_set_absent_fails_naming_both():
    """A route to a strategy that the same run deletes is a contradiction of the inventory alone:
    it fails where the routes are checked, before anything is written, naming the route."""
    layers = {"stalwart_mta_connection_routes__10_common": [{"if": "rcpt_domain == 'gmail.com'", "strategy": "legacy"}]}
    with pytest.raises(AnsibleFilterError, match=r"stalwart_mta_connection_routes__10_common\[0\] routes to 'legacy', "
                                                 r"which the strategies list sets absent"):
        merge_routes(layers, absent=["legacy"])
    with pytest.raises(AnsibleFilterError, match=r"stalwart_mta_connection_route_default routes to 'legacy'"):
        merge_routes({}, default="legacy", absent=["legacy"])
    assert merge_routes(layers, default="bulk", absent=["other"]) == [{"if": "rcpt_domain == 'gmail.com'",
                                                                       "then": "legacy"}]


@pytest.mark.parametrize("name", ["stalwart_mta_connection_routes_10_x", "stalwart_mta_connection_routes__",
                                  "stalwart_mta_connection_routes_default"])
def test_with_layers_of_a_name_that_is_not_a_layer_fails_naming_it(name):
    layers = {"stalwart_mta_connection_routes": [], name: [{"if": "true", "strategy": "bulk"}]}
    with pytest.raises(AnsibleFilterError, match=rf"^{name} is not a layer of stalwart_mta_connection_routes: a layer "
                                                 r"is named stalwart_mta_connection_routes__<suffix>"):
        merge_routes(layers, layers_of="stalwart_mta_connection_routes")
    assert merge_routes({"stalwart_mta_connection_routes__1": []}, layers_of="stalwart_mta_connection_routes") == []


class _OmitType:  # the class name ansible-core 2.19 and later give the omit sentinel
    pass


class AnsibleVaultEncryptedUnicode:  # ansible-core 2.16 to 2.18's vaulted string, which is no str
    def __init__(self, text):
        self._text = text

    def __str__(self):
        return self._text

    def __repr__(self):
        return f"<AnsibleVaultEncryptedUnicode {self._text}>"


@pytest.mark.parametrize("omit", [_OmitType(), "__omit_place_holder__3f2a9c"])
def test_an_omitted_route_default_or_layer_counts_as_not_set(omit):
    assert merge_routes({BASE: [GMAIL], BASE + "__20": omit}, default=omit) == [{"if": GMAIL["if"], "then": "gmail"}]


def test_a_vaulted_strategy_name_is_taken_decrypted():
    """ansible-core 2.16 to 2.18 hand a filter the vault object: the route was refused as not a string, in a
    message that printed the decrypted name."""
    assert merge_routes({BASE: [{"if": "a", "strategy": AnsibleVaultEncryptedUnicode("vaultname")}]},
                        default=AnsibleVaultEncryptedUnicode("fallback")) == [{"if": "a", "then": "vaultname"}]
