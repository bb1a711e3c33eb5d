"""Let ``ansible-test`` bootstrap pip on networks that reach the package index only.

``ansible-test --venv`` creates an empty virtual environment per sanity test and installs pip
into it with a bootstrap script that it downloads from a host of its own (not the package
index). On a network that reaches the package index but not that host, the download fails and
ansible-test stops, printing the cache path where it would have kept the script.

This tool fills that cache path ahead of time with a small script that does the same job from
a pip wheel taken from the package index with ordinary ``pip download``:

    python tests/tooling/ansible_test_offline_pip.py

It asks the installed ansible-test which pip version it wants, so it keeps working when
ansible-core changes that version. The generated script is given pip's arguments without the
leading ``install`` (that is how ansible-test calls a get-pip script) and drops
``--no-setuptools`` and ``--no-wheel``, which get-pip understands and pip does not.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

CACHE_DIR = os.path.expanduser("~/.ansible/test/cache")

BOOTSTRAP_TEMPLATE = '''"""pip bootstrap for ansible-test, written by stalwart.mail's tests/tooling (offline support).

Runs pip from the wheel {wheel!r} beside this file, instead of ansible-test's downloaded get-pip.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, {wheel!r}))

from pip._internal.cli.main import main  # noqa: E402  (the wheel is importable only now)

# ansible-test passes get-pip options; pip itself knows no --no-setuptools/--no-wheel.
ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install"] + ARGS))
'''


def wanted_pip_version() -> str:
    """Return the pip version that the installed ansible-test bootstraps into its venvs."""
    import ansible_test._internal.python_requirements as requirements  # pylint: disable=import-outside-toplevel

    with open(requirements.__file__, encoding="utf-8") as source:
        text = source.read()
    match = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", text)
    if not match:
        raise SystemExit("cannot find the pip version in %s; update this tool" % requirements.__file__)
    return match.group(1)


def main() -> int:
    """Download the pip wheel and write the bootstrap script to ansible-test's cache path."""
    version = wanted_pip_version()
    os.makedirs(CACHE_DIR, exist_ok=True)
    script_path = os.path.join(CACHE_DIR, "get_pip_%s.py" % version.replace(".", "_"))
    wheels = glob.glob(os.path.join(CACHE_DIR, "pip-%s-*.whl" % version))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", CACHE_DIR, "pip==%s" % version],
            check=True,
        )
        wheels = glob.glob(os.path.join(CACHE_DIR, "pip-%s-*.whl" % version))
    if not wheels:
        raise SystemExit("pip %s wheel not found after download" % version)
    wheel = os.path.basename(sorted(wheels)[0])
    content = BOOTSTRAP_TEMPLATE.format(wheel=wheel)
    current = None
    if os.path.exists(script_path):
        with open(script_path, encoding="utf-8") as existing:
            current = existing.read()
    if current != content:
        with open(script_path + ".tmp", "w", encoding="utf-8") as target:
            target.write(content)
        os.replace(script_path + ".tmp", script_path)
    print("ansible-test pip %s bootstrap ready: %s" % (version, script_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
