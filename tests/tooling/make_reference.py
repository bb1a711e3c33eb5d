"""Write ``docs/reference.md``, the module, role and filter reference, from the code's own docs.

    python tests/tooling/make_reference.py            # rewrite docs/reference.md
    python tests/tooling/make_reference.py --check    # exit 1 if docs/reference.md is stale

The source is ``ansible-doc --json`` (the ansible-doc beside this Python) for every module and
filter in ``plugins/`` and for the role: Ansible merges the doc fragments and reads the role's
``meta/argument_specs.yml``, so nothing here re-implements that. Ansible's markup (``O()``,
``V()``, ``M()``...) becomes Markdown through antsibull-docs-parser. A unit test
(``tests/unit/test_reference.py``) fails when the page and the code disagree, on every
ansible-core the suite runs, so the page cannot drift from what the modules accept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from antsibull_docs_parser import dom
from antsibull_docs_parser.format import Formatter, LinkProvider
from antsibull_docs_parser.md import to_md
from antsibull_docs_parser.parser import Context, parse

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "reference.md"
NAMESPACE = "stalwart.mail"
ROLE = "mta_connection_strategies"


def anchor(kind, name):
    return f"{kind}-{name.replace('_', '-')}"


class Links(LinkProvider):
    """Links to this collection's plugins point into this page; everything else is plain text."""

    def plugin_link(self, plugin):
        namespace, name = plugin.fqcn.rsplit(".", 1)
        if namespace != NAMESPACE:
            return None
        if plugin.type == "module" and name in MODULES:
            return "#" + anchor("module", name)
        if plugin.type == "role" and name == ROLE:
            return "#" + anchor("role", name)
        if plugin.type == "filter" and name in FILTERS:
            return "#" + anchor("filter", name)
        return None


def code(text):
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plain(text):
    """Markdown that reads as plain text: only what Markdown would misread is escaped."""
    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("<", "&lt;")
    return re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)


class ReadableMarkdown(Formatter):  # pylint: disable=unused-argument
    """Ansible markup as Markdown that is also readable as text: code in backticks, no HTML."""

    def format_error(self, part):
        raise ValueError(part.message)

    def format_bold(self, part):
        return f"**{plain(part.text)}**"

    def format_code(self, part):
        return code(part.text)

    def format_horizontal_line(self, part):
        return "\n---\n"

    def format_italic(self, part):
        return f"*{plain(part.text)}*"

    def format_link(self, part):
        return f"[{plain(part.text)}]({part.url})"

    def format_module(self, part, url):
        return f"[{code(part.fqcn)}]({url})" if url else code(part.fqcn)

    def format_rst_ref(self, part):
        return plain(part.text)

    def format_url(self, part):
        return f"<{part.url}>"

    def format_text(self, part):
        return plain(part.text)

    def format_env_variable(self, part):
        return code(part.name)

    def format_option_name(self, part, url):
        return code(part.name if part.value is None else f"{part.name}={part.value}")

    def format_option_value(self, part):
        return code(part.value)

    def format_plugin(self, part, url):
        return f"[{code(part.plugin.fqcn)}]({url})" if url else code(part.plugin.fqcn)

    def format_return_value(self, part, url):
        return code(part.name if part.value is None else f"{part.name}={part.value}")


def markup(text, plugin_type, name):
    """Ansible doc markup (a string or a list of paragraphs) as Markdown on one line per paragraph."""
    if text is None:
        return ""
    current = dom.PluginIdentifier(fqcn=f"{NAMESPACE}.{name}", type=plugin_type)
    context = Context(current_plugin=current, role_entrypoint="main" if plugin_type == "role" else None)
    paragraphs = parse(text, context, errors="exception")
    return to_md(paragraphs, formatter=ReadableMarkdown(), link_provider=Links(), current_plugin=current)


def cell(text):
    """Markdown fit for a table cell: paragraphs joined by <br>, pipes escaped."""
    return "<br>".join(line.strip() for line in text.replace("|", "\\|").split("\n") if line.strip())


# --- reading the docs: ansible-doc's own output ------------------------------------------------


def collection_root():
    """A temporary ``ansible_collections/stalwart/mail`` that is this checkout (a symlink)."""
    root = Path(tempfile.mkdtemp(prefix="stalwart-reference-"))
    (root / "ansible_collections" / "stalwart").mkdir(parents=True)
    (root / "ansible_collections" / "stalwart" / "mail").symlink_to(ROOT, target_is_directory=True)
    return root


def ansible_doc(plugin_type, names):
    """``ansible-doc --json -t TYPE`` for this collection's plugins ``names``: the documentation as
    Ansible itself assembles it (doc fragments merged), keyed by short name."""
    root = collection_root()
    try:
        (root / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")  # no user or system config
        env = {**{key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")},
               "ANSIBLE_COLLECTIONS_PATH": str(root), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(root / "ansible.cfg")}
        command = [str(Path(sys.executable).parent / "ansible-doc"), "--json", "-t", plugin_type,
                   *[f"{NAMESPACE}.{name}" for name in names]]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"ansible-doc failed ({done.returncode}):\n{done.stderr}")
        found = json.loads(done.stdout)
    finally:
        shutil.rmtree(root)
    missing = [name for name in names if f"{NAMESPACE}.{name}" not in found]
    if missing:
        raise SystemExit(f"ansible-doc found no documentation for {plugin_type} {missing}")
    return {name: found[f"{NAMESPACE}.{name}"] for name in names}


def plugin_names(folder):
    return tuple(sorted(path.stem for path in (ROOT / "plugins" / folder).glob("*.py")
                        if not path.name.startswith("_")))


MODULES = plugin_names("modules")
FILTERS = plugin_names("filter")


# --- rendering ---------------------------------------------------------------------------------


def type_of(option):
    kind = option.get("type", "str")
    if option.get("elements"):
        kind = f"list of {option['elements']}"
    return kind


def options_table(options, plugin_type, name, children="suboptions"):
    rows = ["| option | type | required / default | description |", "|---|---|---|---|"]

    def walk(entries, prefix):
        for option, spec in entries.items():
            path = f"{prefix}{option}"
            facts = []
            if spec.get("required"):
                facts.append("required")
            if "default" in spec and spec["default"] is not None:
                facts.append(f"default: `{yaml.safe_dump(spec['default'], default_flow_style=True).strip().removesuffix('...').strip()}`")
            if spec.get("choices"):
                facts.append("choices: " + ", ".join(f"`{choice}`" for choice in spec["choices"]))
            if spec.get("aliases"):
                facts.append("aliases: " + ", ".join(f"`{alias}`" for alias in spec["aliases"]))
            if spec.get("no_log"):
                facts.append("secret (`no_log`)")
            rows.append(f"| `{path}` | {type_of(spec)} | {cell('<br>'.join(facts))} | "
                        f"{cell(markup(spec.get('description'), plugin_type, name))} |")
            if spec.get(children):
                walk(spec[children], f"{path}[]." if spec.get("type") == "list" else f"{path}.")

    walk(options, "")
    return rows


def attributes_table(attributes, name):
    rows = ["| attribute | support | description |", "|---|---|---|"]
    for attribute, spec in attributes.items():
        details = markup(spec.get("details"), "module", name) if spec.get("details") else ""
        text = markup(spec.get("description"), "module", name)
        rows.append(f"| `{attribute}` | {spec.get('support', '')} | {cell(text + (chr(10) + details if details else ''))} |")
    return rows


def returns_table(returns, name):
    rows = ["| key | returned | type | description |", "|---|---|---|---|"]

    def walk(entries, prefix):
        for key, spec in entries.items():
            path = f"{prefix}{key}"
            rows.append(f"| `{path}` | {cell(markup(str(spec.get('returned', '')), 'module', name))} | {type_of(spec)} | "
                        f"{cell(markup(spec.get('description'), 'module', name))} |")
            if spec.get("contains"):
                walk(spec["contains"], f"{path}[]." if spec.get("type") == "list" else f"{path}.")

    walk(returns, "")
    return rows


def paragraphs(text, plugin_type, name):
    if not text:
        return []
    if isinstance(text, str):
        text = [text]
    return [markup(paragraph, plugin_type, name) + "\n" for paragraph in text]


def seealso(entries, plugin_type, name):
    lines = []
    for entry in entries or []:
        if "module" in entry:
            target = entry["module"].rpartition(".")[2]
            link = f"[{entry['module']}](#{anchor('module', target)})" if entry["module"].startswith(NAMESPACE) \
                else f"`{entry['module']}`"
            lines.append(f"- {link}" + (f": {markup(entry['description'], plugin_type, name)}"
                                        if entry.get("description") else ""))
        elif "link" in entry:
            lines.append(f"- [{entry['name']}]({entry['link']})"
                         + (f": {markup(entry['description'], plugin_type, name)}" if entry.get("description") else ""))
    return lines


def render_module(name, found):
    doc, examples, returns = found["doc"], (found.get("examples") or "").strip("\n"), found.get("return") or {}
    out = [f'<a id="{anchor("module", name)}"></a>', "", f"## Module `{NAMESPACE}.{name}`", "",
           f"{markup(doc['short_description'], 'module', name)}", ""]
    out += paragraphs(doc.get("description"), "module", name)
    if doc.get("requirements"):
        out += ["Requirements: " + ", ".join(f"`{requirement}`" for requirement in doc["requirements"]) + ".", ""]
    out += ["### Options", ""] + options_table(doc.get("options", {}), "module", name) + [""]
    if doc.get("attributes"):
        out += ["### Attributes", ""] + attributes_table(doc["attributes"], name) + [""]
    if doc.get("notes"):
        out += ["### Notes", ""] + [f"- {markup(note, 'module', name)}" for note in doc["notes"]] + [""]
    if doc.get("seealso"):
        out += ["### See also", ""] + seealso(doc["seealso"], "module", name) + [""]
    if examples:
        out += ["### Examples", "", "```yaml", examples, "```", ""]
    if returns:
        out += ["### Return values", ""] + returns_table(returns, name) + [""]
    return out


def render_role(found):
    main = found["entry_points"]["main"]
    out = [f'<a id="{anchor("role", ROLE)}"></a>', "", f"## Role `{NAMESPACE}.{ROLE}`", "",
           markup(main["short_description"], "role", ROLE), ""]
    out += paragraphs(main.get("description"), "role", ROLE)
    out += [f"More, with an inventory example: [the role's README](../roles/{ROLE}/README.md).", ""]
    out += ["### Variables (entry point `main`)", ""] + options_table(main["options"], "role", ROLE, "options") + [""]
    return out


def render_filter(name, found):
    doc, examples, returns = found["doc"], (found.get("examples") or "").strip("\n"), found.get("return") or {}
    out = [f'<a id="{anchor("filter", name)}"></a>', "", f"## Filter `{NAMESPACE}.{name}`", "",
           markup(doc["short_description"], "filter", name), ""]
    out += paragraphs(doc.get("description"), "filter", name)
    out += ["### Input and options", ""] + options_table(doc.get("options", {}), "filter", name) + [""]
    if doc.get("seealso"):
        out += ["### See also", ""] + seealso(doc["seealso"], "filter", name) + [""]
    if examples:
        out += ["### Examples", "", "```yaml", examples, "```", ""]
    if returns:
        out += ["### Return value", ""] + [f"- `{key}` ({type_of(spec)}): "
                                           f"{cell(markup(spec.get('description'), 'filter', name))}"
                                           for key, spec in returns.items()] + [""]
    return out


def render():
    out = ["# Reference", "",
           "Generated by `tests/tooling/make_reference.py` from what `ansible-doc --json` returns for",
           "the modules, the role and the filters (their own documentation, with the doc fragments merged",
           f"by Ansible); do not edit by hand. `ansible-doc {NAMESPACE}.<module>` shows the same text.",
           "A unit test fails when this page and the code disagree.", "", "Contents:", ""]
    out += [f"- [module `{NAMESPACE}.{name}`](#{anchor('module', name)})" for name in MODULES]
    out += [f"- [role `{NAMESPACE}.{ROLE}`](#{anchor('role', ROLE)})"]
    out += [f"- [filter `{NAMESPACE}.{name}`](#{anchor('filter', name)})" for name in FILTERS]
    out.append("")
    modules = ansible_doc("module", MODULES)
    for name in MODULES:
        out += render_module(name, modules[name])
    out += render_role(ansible_doc("role", [ROLE])[ROLE])
    filters = ansible_doc("filter", FILTERS)
    for name in FILTERS:
        out += render_filter(name, filters[name])
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/reference.md is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python tests/tooling/make_reference.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
