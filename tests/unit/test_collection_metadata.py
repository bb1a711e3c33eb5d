"""The collection's metadata agrees with itself: galaxy.yml, meta/runtime.yml and the modules on disk."""

from __future__ import annotations

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_galaxy_names_the_collection():
    galaxy = load("galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"]) == ("stalwart", "mail")
    assert galaxy["license"] == ["GPL-3.0-or-later"]


# runs on the mail host and takes no connection option: not in the action group
# source_ip_probe runs on the mail host; the role's own action reads the connection from the role's
# variables and the play's module_defaults itself (module_defaults for it would be templated for nothing)
NOT_JMAP = {"source_ip_probe", "mta_connection_strategies_role"}


def test_action_group_jmap_lists_every_module_that_talks_to_the_api():
    runtime = load("meta/runtime.yml")
    modules_dir = os.path.join(ROOT, "plugins", "modules")
    on_disk = sorted(
        name[:-3] for name in os.listdir(modules_dir) if name.endswith(".py") and not name.startswith("_")
    ) if os.path.isdir(modules_dir) else []
    assert sorted(runtime["action_groups"]["jmap"]) == sorted(set(on_disk) - NOT_JMAP) or not on_disk
    assert set(runtime["action_groups"]["jmap"]) == {"mta_connection_strategy", "mta_connection_strategy_info",
                                                     "mta_outbound_strategy", "mta_outbound_strategy_info",
                                                     "reload_settings", "deliverability_check"}


def test_requests_and_dnspython_are_declared_for_users_and_execution_environments():
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert any(line.startswith("requests") for line in lines)
    assert any(line.startswith("dnspython") for line in lines)
    ee = load("meta/execution-environment.yml")
    assert ee["dependencies"]["python"] == "requirements.txt"
