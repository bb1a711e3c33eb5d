"""Write ``docs/reference.md``, the module, role and filter reference, from the code's own docs.

    python tests/tooling/make_reference.py            # rewrite docs/reference.md
    python tests/tooling/make_reference.py --check    # exit 1 if docs/reference.md is stale

The source is what ``ansible-doc`` renders: each module's DOCUMENTATION, EXAMPLES and RETURN
with the collection's doc fragments merged in, the role's ``meta/argument_specs.yml`` and the
filter's DOCUMENTATION. Ansible's markup (``O()``, ``V()``, ``M()``...) becomes Markdown through
antsibull-docs-parser. A unit test (``tests/unit/test_reference.py``) fails when the page and
the code disagree, so the page cannot drift from what the modules accept.

Fragments are merged the way ansible-core merges them for ``ansible-doc``: options and attributes
are combined (the module's own entries win where both define a key), lists such as ``notes`` are
appended. Only this collection's fragments are used, so no Ansible installation is consulted and
the page is the same whichever ansible-core runs the test.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml
from antsibull_docs_parser import dom
from antsibull_docs_parser.format import Formatter, LinkProvider
from antsibull_docs_parser.md import to_md
from antsibull_docs_parser.parser import Context, parse

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "reference.md"
NAMESPACE = "stalwart.mail"
MODULES = ("mta_connection_strategy", "mta_connection_strategy_info", "mta_outbound_strategy", "mta_outbound_strategy_info",
           "reload_settings", "deliverability_check", "source_ip_probe")
ROLE = "mta_connection_strategies"
FILTERS = ("merge_strategies",)


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


# --- reading the docs --------------------------------------------------------------------------


def python_docs(path, names=("DOCUMENTATION", "EXAMPLES", "RETURN"), in_class=False):
    """The raw-string assignments ``names`` of a plugin or doc fragment file, without importing it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = tree.body
    if in_class:
        body = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    found = {}
    for node in body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if getattr(target, "id", None) in names:
                    found[target.id] = ast.literal_eval(node.value)
    return found


def fragment(reference):
    """The YAML of ``stalwart.mail.<file>[.<VARIABLE>]``."""
    parts = reference.split(".")
    if parts[:2] != NAMESPACE.split("."):
        raise SystemExit(f"a fragment from outside the collection: {reference}")
    variable = parts[3].upper() if len(parts) > 3 else "DOCUMENTATION"
    text = python_docs(ROOT / "plugins" / "doc_fragments" / f"{parts[2]}.py", (variable,), in_class=True)[variable]
    return yaml.safe_load(text)


def merge_fragment(doc, extra):
    for key, value in extra.items():
        if isinstance(value, dict):
            # the plugin's own entries first, in its order, then the fragment's
            merged = {}
            for name, own in (doc.get(key) or {}).items():
                entry = value.get(name)
                merged[name] = {**entry, **own} if isinstance(entry, dict) and isinstance(own, dict) else own
            for name, entry in value.items():
                merged.setdefault(name, entry)
            doc[key] = merged
        elif isinstance(value, list):
            doc[key] = list(doc.get(key, [])) + value
        else:
            doc.setdefault(key, value)


def module_docs(name):
    raw = python_docs(ROOT / "plugins" / "modules" / f"{name}.py")
    doc = yaml.safe_load(raw["DOCUMENTATION"])
    for reference in doc.pop("extends_documentation_fragment", []):
        merge_fragment(doc, fragment(reference))
    return doc, raw.get("EXAMPLES", "").strip("\n"), yaml.safe_load(raw.get("RETURN") or "{}") or {}


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


def render_module(name):
    doc, examples, returns = module_docs(name)
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


def render_role():
    specs = yaml.safe_load((ROOT / "roles" / ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    main = specs["argument_specs"]["main"]
    out = [f'<a id="{anchor("role", ROLE)}"></a>', "", f"## Role `{NAMESPACE}.{ROLE}`", "",
           markup(main["short_description"], "role", ROLE), ""]
    out += paragraphs(main.get("description"), "role", ROLE)
    out += [f"More, with an inventory example: [the role's README](../roles/{ROLE}/README.md).", ""]
    out += ["### Variables (entry point `main`)", ""] + options_table(main["options"], "role", ROLE, "options") + [""]
    return out


def render_filter(name):
    raw = python_docs(ROOT / "plugins" / "filter" / f"{name}.py")
    doc = yaml.safe_load(raw["DOCUMENTATION"])
    returns = yaml.safe_load(raw.get("RETURN") or "{}") or {}
    out = [f'<a id="{anchor("filter", name)}"></a>', "", f"## Filter `{NAMESPACE}.{name}`", "",
           markup(doc["short_description"], "filter", name), ""]
    out += paragraphs(doc.get("description"), "filter", name)
    out += ["### Input and options", ""] + options_table(doc.get("options", {}), "filter", name) + [""]
    if doc.get("seealso"):
        out += ["### See also", ""] + seealso(doc["seealso"], "filter", name) + [""]
    if raw.get("EXAMPLES"):
        out += ["### Examples", "", "```yaml", raw["EXAMPLES"].strip("\n"), "```", ""]
    if returns:
        out += ["### Return value", ""] + [f"- `{key}` ({type_of(spec)}): "
                                           f"{cell(markup(spec.get('description'), 'filter', name))}"
                                           for key, spec in returns.items()] + [""]
    return out


def render():
    out = ["# Reference", "",
           "Generated from the modules' documentation, the role's `meta/argument_specs.yml` and the",
           "filter's documentation by `tests/tooling/make_reference.py`; do not edit by hand. The same",
           f"text is what `ansible-doc {NAMESPACE}.<module>` and `ansible-doc -t role {NAMESPACE}.{ROLE}` show.",
           "A unit test fails when this page and the code disagree.", "", "Contents:", ""]
    out += [f"- [module `{NAMESPACE}.{name}`](#{anchor('module', name)})" for name in MODULES]
    out += [f"- [role `{NAMESPACE}.{ROLE}`](#{anchor('role', ROLE)})"]
    out += [f"- [filter `{NAMESPACE}.{name}`](#{anchor('filter', name)})" for name in FILTERS]
    out.append("")
    for name in MODULES:
        out += render_module(name)
    out += render_role()
    for name in FILTERS:
        out += render_filter(name)
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
