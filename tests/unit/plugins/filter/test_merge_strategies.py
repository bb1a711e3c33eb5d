"""The merge filter of the role: layers by sorted variable name, strategies by name, later layers
winning option by option; shape errors that name the variable and the item."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stalwart.mail.plugins.filter.merge_strategies import FilterModule, merge_strategies

BASE = "stalwart_mta_connection_strategies"
COMMON = BASE + "__10_common"
HOST = BASE + "__20_host"


def test_the_filter_is_registered_under_its_documented_name():
    assert FilterModule().filters()["merge_strategies"] is merge_strategies


def test_later_layers_win_option_by_option_and_lists_are_replaced_whole():
    layers = {
        HOST: [{"name": "bulk", "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx1-a.example.org"}],
                "data_timeout": "20m"},
               {"name": "warmup", "connect_timeout": "30s"}],
        COMMON: [{"name": "bulk", "ehlo_hostname": "bulk.example.org", "data_timeout": "15m",
                  "source_ips": [{"ip": "198.51.100.1"}]},
                 {"name": "gmail", "greeting_timeout": "2m"}],
    }
    assert merge_strategies(layers) == [
        {"name": "bulk", "ehlo_hostname": "bulk.example.org", "data_timeout": "20m",
         "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx1-a.example.org"}]},
        {"name": "gmail", "greeting_timeout": "2m"},
        {"name": "warmup", "connect_timeout": "30s"},
    ]


def test_the_plain_list_is_the_first_layer():
    layers = {COMMON: [{"name": "a", "description": "from the suffix"}],
              BASE: [{"name": "a", "description": "from the plain list", "connect_timeout": 1000}]}
    assert merge_strategies(layers) == [{"name": "a", "description": "from the suffix", "connect_timeout": 1000}]


@pytest.mark.parametrize("names, winner", [
    ((BASE + "__10_a", BASE + "__20_b"), "b"),
    ((BASE + "__a", BASE + "__b"), "b"),
    # plain string order: "9" sorts after "10", which is why the README says to pad numbers
    ((BASE + "__9", BASE + "__10"), "9"),
])
def test_suffixes_are_applied_in_sorted_string_order(names, winner):
    first, second = names
    layers = {second: [{"name": "s", "description": second.rsplit("_", 1)[-1]}],
              first: [{"name": "s", "description": first.rsplit("_", 1)[-1]}]}
    assert merge_strategies(layers) == [{"name": "s", "description": winner}]


def test_none_keeps_the_earlier_value_while_empty_values_clear_it():
    layers = {COMMON: [{"name": "s", "description": "kept", "ehlo_hostname": "mx.example.org",
                        "source_ips": [{"ip": "192.0.2.1"}]}],
              HOST: [{"name": "s", "description": None, "ehlo_hostname": "", "source_ips": []}]}
    assert merge_strategies(layers) == [{"name": "s", "description": "kept", "ehlo_hostname": "", "source_ips": []}]


def test_absent_keeps_only_name_and_state_and_a_later_present_revives_the_options():
    layers = {COMMON: [{"name": "old", "connect_timeout": "1m"}, {"name": "back", "data_timeout": "1m"}],
              HOST: [{"name": "old", "state": "absent"}, {"name": "back", "state": "absent"}],
              BASE + "__30_last": [{"name": "back", "state": "present"}]}
    assert merge_strategies(layers) == [
        {"name": "old", "state": "absent"},
        {"name": "back", "data_timeout": "1m", "state": "present"},
    ]


def test_id_from_the_info_module_is_dropped():
    layers = {BASE: [{"name": "s", "id": "b", "connect_timeout": "1m"}], COMMON: [{"name": "s", "id": "c"}]}
    assert merge_strategies(layers) == [{"name": "s", "connect_timeout": "1m"}]


@pytest.mark.parametrize("second", [{"name": "bulk"}, {"name": 7}])
def test_a_name_given_twice_in_one_layer_fails_naming_both_positions(second):
    """Two items of one layer with the same name merged in order: the second's source_ips replaced
    the first's unseen (the module refuses a name given twice, but sees only the merged list)."""
    first = {"name": "bulk" if second["name"] == "bulk" else "7", "source_ips": [{"ip": "192.0.2.10"}]}
    with pytest.raises(AnsibleFilterError) as raised:
        merge_strategies({COMMON: [first, {"name": "other"}, dict(second, source_ips=[{"ip": "192.0.2.11"}])]})
    assert f"{COMMON}[2]" in str(raised.value) and f"repeats the name of {COMMON}[0]" in str(raised.value)


class _OmitType:  # the class name ansible-core 2.19 and later give the omit sentinel
    pass


@pytest.mark.parametrize("omit", [_OmitType(), "__omit_place_holder__3f2a9c"])
def test_a_value_that_default_omit_gave_keeps_the_earlier_layers_value(omit):
    """description: "{{ x | default(omit) }}" in a later layer replaced the earlier layer's value
    with the placeholder, which the task then dropped: the server kept its own value, or a create
    got the server's default."""
    layers = {BASE: [{"name": "o", "description": "from the plain list", "data_timeout": "15m",
                      "source_ips": [{"ip": "192.0.2.10"}]}],
              COMMON: [{"name": "o", "description": omit, "data_timeout": omit, "source_ips": omit}, omit],
              HOST: omit}
    assert merge_strategies(layers) == [{"name": "o", "description": "from the plain list", "data_timeout": "15m",
                                         "source_ips": [{"ip": "192.0.2.10"}]}]
    # an omitted source_ips entry is left out, as Ansible leaves out an omitted list element
    assert merge_strategies({BASE: [{"name": "o", "source_ips": [{"ip": "192.0.2.10"}, omit]}]}) == [
        {"name": "o", "source_ips": [{"ip": "192.0.2.10"}]}]


def test_empty_and_null_layers_give_an_empty_list():
    assert merge_strategies({}) == []
    assert merge_strategies({BASE: [], COMMON: None}) == []


def test_the_input_is_not_modified():
    item = {"name": "s", "connect_timeout": "1m"}
    layers = {BASE: [item], COMMON: [{"name": "s", "connect_timeout": "2m"}]}
    merge_strategies(layers)
    assert item == {"name": "s", "connect_timeout": "1m"}


@pytest.mark.parametrize("layers, expected", [
    ({HOST: {"name": "s"}}, [HOST, "must be a list", "got a dictionary"]),
    ({HOST: "bulk"}, [HOST, "must be a list", "got a string"]),
    ({HOST: [{"name": "a"}, "b"]}, [HOST + "[1]", "must be a dictionary"]),
    ({HOST: [{"connect_timeout": "1m"}]}, [HOST + "[0]", "has no name"]),
    ({HOST: [{"name": ""}]}, [HOST + "[0]", "has no name"]),
    ({HOST: [{"name": True}]}, [HOST + "[0]", "must be a string", "boolean true", "quote it"]),
    ({HOST: [{"name": ["a"]}]}, [HOST + "[0]", "must be a string", "got a list"]),
    ({HOST: [{"name": "bulk", "conect_timeout": "1m"}]},
     [HOST + "[0] (strategy 'bulk')", "unknown key(s) conect_timeout", "accepted:", "connect_timeout"]),
    ({HOST: [{"name": "bulk", "state": "gone"}]}, [HOST + "[0] (strategy 'bulk')", "present or absent", "'gone'"]),
    ({HOST: [{"name": "bulk", "source_ips": "192.0.2.1"}]}, [HOST + "[0] (strategy 'bulk')", "source_ips must be a list"]),
    ({HOST: [{"name": "bulk", "source_ips": ["192.0.2.1"]}]}, ["source_ips[0] must be a dictionary"]),
    ({HOST: [{"name": "bulk", "source_ips": [{"ehlo_hostname": "a.example.org"}]}]}, ["source_ips[0] has no ip"]),
    ({HOST: [{"name": "bulk", "source_ips": [{"ip": "192.0.2.1", "helo": "x"}]}]},
     ["source_ips[0] has unknown key(s) helo", "alias source_ip"]),
])
def test_bad_layers_fail_with_the_variable_the_item_and_what_is_accepted(layers, expected):
    with pytest.raises(AnsibleFilterError) as caught:
        merge_strategies(layers)
    for part in expected:
        assert part in str(caught.value)


def test_source_ip_alias_is_accepted():
    layers = {HOST: [{"name": "s", "source_ips": [{"source_ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]}]}
    assert merge_strategies(layers)[0]["source_ips"] == [{"source_ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]


def test_not_a_dictionary_of_layers_fails():
    with pytest.raises(AnsibleFilterError, match="dictionary from variable name"):
        merge_strategies([{"name": "s"}])


def test_a_number_as_name_is_taken_as_its_text_as_the_module_takes_it():
    assert merge_strategies({HOST: [{"name": 2024, "connect_timeout": "1m"}], BASE: [{"name": "2024"}]}) == [
        {"name": "2024", "connect_timeout": "1m"}]


def test_the_merged_list_is_plain_data_whatever_types_inventory_gave(tmp_path):
    """Read from a YAML file as inventory is, every value and key is one of ansible-core's own
    types (tagged with where it was read on 2.19 and later, AnsibleUnicode and the like before):
    the merged list holds plain str, int, float, bool, None, list and dict, equal in value, so that
    ansible-core has no tags to copy with the task's arguments for every host."""
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel

    path = tmp_path / "layers.yml"
    path.write_text("base:\n  - name: bulk\n    description: Bulk mail\n    connect_timeout: 90\n"
                    "    data_timeout: 1.5\n    state: present\n    ehlo_hostname:\n"
                    "    source_ips: [{ip: 192.0.2.10, ehlo_hostname: mx1.example.org}]\n"
                    "base__10: [{name: bulk, greeting_timeout: 2m}]\n")
    layers = DataLoader().load_from_file(str(path))

    def types(value):
        if isinstance(value, dict):
            return {type(value)} | {kind for key, item in value.items() for kind in types(key) | types(item)}
        if isinstance(value, list):
            return {type(value)} | {kind for item in value for kind in types(item)}
        return {type(value)}

    assert types(layers) - {list, dict, str, int, float, type(None)}  # the test reads what inventory gives
    merged = merge_strategies(layers)
    assert merged == [{"name": "bulk", "description": "Bulk mail", "connect_timeout": 90, "data_timeout": 1.5,
                       "state": "present", "greeting_timeout": "2m",
                       "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx1.example.org"}]}]
    assert types(merged) == {list, dict, str, int, float}


@pytest.mark.parametrize("name", ["stalwart_mta_connection_strategies_20_host", "stalwart_mta_connection_strategies__"])
def test_with_layers_of_a_name_that_is_not_a_layer_fails_naming_it(name):
    """One underscore, or no suffix: left out, the layer's strategies would be missing from the list,
    and purge would delete them."""
    layers = {"stalwart_mta_connection_strategies": [{"name": "a"}], name: [{"name": "bulk"}]}
    with pytest.raises(AnsibleFilterError, match=rf"^{name} is not a layer of stalwart_mta_connection_strategies"):
        merge_strategies(layers, layers_of="stalwart_mta_connection_strategies")
    # without layers_of, any name is a layer
    assert [item["name"] for item in merge_strategies(layers)] == ["a", "bulk"]


class AnsibleVaultEncryptedUnicode:  # ansible-core 2.16 to 2.18's vaulted string, which is no str
    def __init__(self, text):
        self._text = text

    def __str__(self):
        return self._text


def test_a_vaulted_value_is_taken_decrypted():
    """ansible-core 2.16 to 2.18 hand a filter the vault object: a vaulted name was refused as not a string."""
    layers = {BASE: [{"name": AnsibleVaultEncryptedUnicode("secret-pool"),
                      "description": AnsibleVaultEncryptedUnicode("a vaulted description")}]}
    assert merge_strategies(layers) == [{"name": "secret-pool", "description": "a vaulted description"}]
