"""docs/reference.md is the modules', the role's and the filter's own documentation, rendered:
it must not drift from the code (regenerate it with ``python tests/tooling/make_reference.py``)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("make_reference", ROOT / "tests" / "tooling" / "make_reference.py")
make_reference = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(make_reference)


def test_reference_page_is_up_to_date():
    expected = make_reference.render()
    actual = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/reference.md is stale: run python tests/tooling/make_reference.py"


def test_reference_names_every_option_and_every_link_resolves():
    text = make_reference.render()
    for option in ("strategies[].source_ips[].ip", "purge", "force", "reload", "retries", "names",
                   "stalwart_mta_connection_strategies_purge", "stalwart_delegate_to"):
        assert f"| `{option}` |" in text, option
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    assert len(anchors) == 5
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, target
    # no unparsed Ansible markup left behind
    assert not re.search(r"\b[OVCMEPIBLUR]V?\([^)]*\)", text.replace("`", "")), "markup left unrendered"
