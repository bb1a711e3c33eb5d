"""docs/reference.md is the modules', the role's and the filter's own documentation, rendered:
it must not drift from the code (regenerate it with ``python tests/tooling/make_reference.py``).
The troubleshooting tables of README.md and docs/user-guide.md must not drift either: the messages
they quote are the code's."""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import pytest

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stalwart.mail.plugins.module_utils import _client, _connection, _errors

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("make_reference", ROOT / "tests" / "tooling" / "make_reference.py")
make_reference = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(make_reference)


@functools.lru_cache(maxsize=1)
def rendered():
    """The page as the code renders it (ansible-doc runs three times: once per test session)."""
    return make_reference.render()


def test_reference_page_is_up_to_date():
    expected = rendered()
    actual = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/reference.md is stale: run python tests/tooling/make_reference.py"


def test_reference_names_every_option_and_every_link_resolves():
    text = rendered()
    for option in ("strategies[].source_ips[].ip", "purge", "force", "reload", "retries", "names",
                   "stalwart_mta_connection_strategies_purge", "stalwart_mta_connection_strategies_force",
                   "stalwart_delegate_to"):
        assert f"| `{option}` |" in text, option
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    # every module and filter in plugins/ (as ansible-doc found them), and the role
    assert len(anchors) == len(make_reference.MODULES) + len(make_reference.FILTERS) + 1
    assert {"module-mta-outbound-strategy", "filter-merge-routes", "role-mta-connection-strategies"} <= anchors
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, target
    # no unparsed Ansible markup left behind
    assert not re.search(r"\b[OVCMEPIBLUR]V?\([^)]*\)", text.replace("`", "")), "markup left unrendered"


def troubleshooting_quotes(path: Path) -> list:
    """The `quoted` texts of the first column of the page's Troubleshooting table, each cut at its
    ellipses (what stands for the URL, the reason and so on) into the fragments the code prints."""
    text = path.read_text(encoding="utf-8")
    section = re.search(r"^## Troubleshooting\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert section, f"{path.name} has no Troubleshooting section"
    rows = [line for line in section.group(1).splitlines() if line.startswith("|")][2:]  # header, rule
    assert rows, f"{path.name}: the Troubleshooting table is empty"
    quotes = [quote for row in rows for quote in re.findall(r"`([^`]+)`", row.split("|")[1])]
    return [piece.strip() for quote in quotes for piece in quote.split("…") if piece.strip()]


def messages_the_code_prints() -> str:
    """The source of plugins/ and of the simulator (which quotes the server's own messages
    verbatim), and the parts of messages the code composes at run time, composed by the code."""
    sources = [path.read_text(encoding="utf-8") for folder in ("plugins", "simulator")
               for path in sorted((ROOT / folder).rglob("*.py"))]
    retries = _connection.CONNECTION_OPTIONS["retries"]["default"]
    composed = [
        # "... after 4 attempts; ...": the first try and the default retries
        f"after {_client._plural(retries + 1, 'attempt')};",  # pylint: disable=protected-access
        # a forbidden create names the permission it lacks
        _errors.permission_for("x:MtaConnectionStrategy/set", "not authorized to create objects of this type"),
        # the deliverability check without dnspython (ansible-core words it; the host and Python follow)
        missing_required_lib("dnspython").split(" on ", 1)[0],
        # a module process without requests (the worker path's fallback, on the Python it runs with)
        missing_required_lib("requests").split(" on ", 1)[0],
    ]
    return "\n".join(sources + composed)


@pytest.mark.parametrize("page", ["README.md", "docs/user-guide.md"])
def test_troubleshooting_quotes_only_messages_the_code_prints(page):
    printed = messages_the_code_prints()
    quotes = troubleshooting_quotes(ROOT / page)
    assert len(quotes) >= 5, quotes
    missing = [quote for quote in quotes if quote not in printed]
    assert missing == [], f"{page} quotes messages the code never prints: {missing}"


def test_the_roles_readme_names_every_variable_of_its_argument_spec():
    """The README lists the variables by name (their prose lives once, in the argument spec)."""
    import yaml
    role = ROOT / "roles" / "mta_connection_strategies"
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    readme = (role / "README.md").read_text(encoding="utf-8")
    missing = [name for name in spec["argument_specs"]["main"]["options"] if f"`{name}`" not in readme]
    assert missing == [], f"the role's README does not name {missing}"


def test_no_code_in_the_reference_lost_a_closing_parenthesis():
    """Ansible's markup ends V(...) and C(...) at the first ')': an example such as
    is_local_domain(rcpt_domain) must escape its own (the reference once showed
    `is_local_domain(rcpt_domain` and ansible-doc the same, which the server refuses)."""
    page = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    unbalanced = [code for code in re.findall(r"`([^`\n]+)`", page) if code.count("(") != code.count(")")]
    assert unbalanced == []
