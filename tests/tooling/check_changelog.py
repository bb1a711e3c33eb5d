"""Check the changelog: ``antsibull-changelog lint``, then a trial release in a copy of the tree.

    python tests/tooling/check_changelog.py            # what scripts/test runs
    python tests/tooling/check_changelog.py --show     # also print the trial release notes

The trial release runs ``antsibull-changelog release`` for the version in ``galaxy.yml`` on a copy
of the committed files (the checkout is not touched) and checks the notes a user would read:

- a release summary;
- every module, filter and role of the collection listed as new in the release that introduced
  it (antsibull-changelog finds them through ansible-doc and their ``version_added``);
- for a first release, no ``Bugfixes`` or ``Known Issues``: nothing was released that could have
  been fixed, so such a fragment is about the development history, not about the release; nor
  words that tell that history (``before, ...``, ``no longer``, ``instead of``, ``it was``): a
  user of the first release never saw the behaviour they compare with.

Run with the Python of the virtualenv that has antsibull-changelog and ansible-core (``ansible-doc``
must be beside it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# what a note says when it compares with behaviour that was never released
HISTORY = re.compile(r"\b(?:[Bb]efore,|(?:no longer|instead of|it was|used to|any more)\b)")
BIN = Path(sys.executable).parent


def run(command, cwd, env):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or done.stdout.strip():
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def committed_files():
    """The files of the checkout that git tracks or would track (not the ignored ones)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name]


def trial_release(env):
    """The notes ``antsibull-changelog release`` writes for this version, from a copy of the tree."""
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="stalwart-changelog-"))
    try:
        tree = work / "ansible_collections" / galaxy["namespace"] / galaxy["name"]
        for name in committed_files():
            target = tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, target)
        (work / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
        env = {**env, "ANSIBLE_COLLECTIONS_PATH": str(work), "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
        run([str(BIN / "antsibull-changelog"), "release", "--version", str(galaxy["version"]),
             "--date", "2000-01-01"], tree, env)
        notes = (tree / "CHANGELOG.rst").read_text(encoding="utf-8")
        history = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
        return galaxy, notes, not history.get("releases")
    finally:
        shutil.rmtree(work)


def problems_in(galaxy, notes, first_release):
    fqcn = f"{galaxy['namespace']}.{galaxy['name']}"
    problems = []
    if "Release Summary" not in notes:
        problems.append("no release summary (a fragment with release_summary)")
    expected = [f"{fqcn}.{path.stem}" for folder in ("modules", "filter")
                for path in sorted((ROOT / "plugins" / folder).glob("*.py")) if not path.name.startswith("_")]
    if first_release:
        expected += [f"{fqcn}.{path.name}" for path in sorted((ROOT / "roles").iterdir()) if path.is_dir()]
        for section in ("Bugfixes", "Known Issues"):
            if f"\n{section}\n" in notes:
                problems.append(f"a first release with a '{section}' section: fragments about unreleased code")
        for line in notes.splitlines():
            told = HISTORY.search(line)
            if told:
                problems.append(f"a first release's note tells the development history ({told.group(0)!r}): {line[:100]}")
    for name in expected:
        if f"- {name} - " not in notes:
            problems.append(f"{name} is not listed as new (is its version_added right?)")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--show", action="store_true", help="print the trial release notes")
    args = parser.parse_args(argv)
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    run([str(BIN / "antsibull-changelog"), "lint"], ROOT, env)
    galaxy, notes, first_release = trial_release(env)
    if args.show:
        print(notes)
    problems = problems_in(galaxy, notes, first_release)
    for problem in problems:
        print(f"changelog: {problem}", file=sys.stderr)
    if not problems:
        print(f"changelog: lint passed; the trial release notes of {galaxy['version']} are complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
