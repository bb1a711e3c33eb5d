"""The collection as users get it: ``ansible-galaxy collection build``, install the tarball into an
empty collections path, run a playbook from the installed copy (not from this checkout)."""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import sys
import tarfile
import textwrap

import pytest

from tests.support.sim import ADMIN_TOKEN, Simulator

# one worker runs the whole file: its module-scoped fixture (one playbook for every case) then runs once
pytestmark = pytest.mark.xdist_group("build")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def ansible_env(collections_path):
    """An environment in which only ``collections_path`` provides collections."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=collections_path,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """Build the collection tarball from this checkout."""
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [os.path.join(BIN, "ansible-galaxy"), "collection", "build", ROOT, "--output-path", str(out)],
        check=True, capture_output=True, text=True, env=ansible_env(str(out)),
    )
    (built,) = out.glob("stalwart-mail-*.tar.gz")
    return built


def test_tarball_holds_what_a_user_needs_and_nothing_else(tarball):
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    for needed in (
        "MANIFEST.json",
        "FILES.json",
        "README.md",
        "COPYING",  # GPL-3.0 section 4: a copy of the licence goes with every copy distributed
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "requirements.txt",
        "plugins/modules/mta_connection_strategy.py",
        "plugins/modules/mta_connection_strategy_info.py",
        "plugins/module_utils/_client.py",
        "plugins/doc_fragments/connection.py",
        "roles/mta_connection_strategies/tasks/main.yml",
        "roles/mta_connection_strategies/meta/argument_specs.yml",
        "roles/mta_connection_strategies/handlers/main.yml",
        "plugins/modules/reload_settings.py",
        "simulator/stalwart_sim.py",
    ):
        assert needed in names, needed
    not_for_users = {"tests", ".ci", "scripts", ".venv", ".cache", ".git", "benchmarks", "demo", "extensions",
                     "DEVELOPERS.md", "pytest.ini", "changelogs/fragments"}
    unwanted = [
        name for name in names
        if any(name == path or name.startswith(path + "/") for path in not_for_users)
        or "__pycache__" in name or name.endswith(".pyc")
    ]
    assert unwanted == []


def test_the_shipped_markdown_links_only_to_what_ships(tarball):
    """A relative link in a Markdown file of the tarball (README, docs/, the role's README) must
    point into the tarball; what stays in the repository is linked by its absolute URL."""
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        pages = {name: archive.extractfile(name).read().decode("utf-8") for name in names if name.endswith(".md")}
    assert "README.md" in pages
    dangling = []
    for page, text in pages.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = posixpath.normpath(posixpath.join(posixpath.dirname(page), target.split("#", 1)[0]))
            if not (path in names or any(name.startswith(path.rstrip("/") + "/") for name in names)):
                dangling.append(f"{page}: {target}")
    assert dangling == []


def test_playbook_runs_from_the_installed_tarball(tarball, tmp_path):
    collections = tmp_path / "collections"
    env = ansible_env(str(collections))
    subprocess.run(
        [os.path.join(BIN, "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(collections)],
        check=True, capture_output=True, text=True, env=env,
    )
    installed = collections / "ansible_collections" / "stalwart" / "mail"
    assert (installed / "plugins" / "modules" / "mta_connection_strategy.py").is_file()

    with Simulator() as sim:
        playbook = tmp_path / "play.yml"
        playbook.write_text(textwrap.dedent(f"""\
            - name: Use the installed collection
              hosts: localhost
              gather_facts: false
              module_defaults:
                group/stalwart.mail.jmap:
                  url: {sim.url}
                  token: {ADMIN_TOKEN}
              tasks:
                - name: Create a strategy through the installed module
                  stalwart.mail.mta_connection_strategy:
                    name: from-tarball
                    connect_timeout: 2m
                - name: Apply a list through the installed role
                  ansible.builtin.include_role:
                    name: stalwart.mail.mta_connection_strategies
                  vars:
                    stalwart_url: {sim.url}
                    stalwart_token: {ADMIN_TOKEN}
                    stalwart_mta_connection_strategies:
                      - name: from-tarball
                        connect_timeout: 2m
                      - name: from-role
                        data_timeout: 20m
            """))
        result = subprocess.run(
            [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
            capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        stored = {item["name"]: item for item in sim.objects()}
    assert stored["from-tarball"]["connectTimeout"] == 120000
    assert stored["from-role"]["dataTimeout"] == 1200000
    assert "default" in stored
