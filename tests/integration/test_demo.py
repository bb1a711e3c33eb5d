"""The README's first command, ``scripts/demo``, does what it says: two simulated servers converge
from the example inventory, the re-run changes nothing, the --check --diff preview shows the edit
and writes nothing, and the info module prints what mx1 holds.

The demo runs here with this venv's interpreter (``STALWART_DEMO_PYTHON``) instead of making its
own ``.venv/demo``; everything else is the script as a user runs it."""

from __future__ import annotations

import os
import re
import socket
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.support import proc

ROOT = Path(__file__).resolve().parents[2]
RECAP = re.compile(r"^(mx[12]) +: ok=(\d+) +changed=(\d+) +unreachable=0 +failed=0 ", re.M)


@pytest.mark.slow
def test_demo_converges_reruns_clean_previews_and_stops(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "STALWART_"))}
    env.update(STALWART_DEMO_PYTHON=sys.executable, TMPDIR=str(tmp_path),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    # in a session of its own: a timeout kills the simulators the demo started, not only bash
    done = proc.run(["bash", str(ROOT / "scripts" / "demo")], cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    steps = re.split(r"^==> ", out, flags=re.M)
    titles = [step.splitlines()[0] for step in steps[1:]]
    assert [title.split(" ")[0] for title in titles] == ["starting", "1.", "2.", "3.", "what", "done"], titles

    apply, rerun, preview = steps[2], steps[3], steps[4]
    # apply: both servers change (the module task and the reload handler)
    assert sorted(RECAP.findall(apply)) == [("mx1", "3", "2"), ("mx2", "3", "2")]
    assert "RUNNING HANDLER [stalwart.mail.mta_connection_strategies : Reload Stalwart settings]" in apply
    # re-run: nothing changes on either server, no reload
    assert sorted(RECAP.findall(rerun)) == [("mx1", "2", "0"), ("mx2", "2", "0")]
    assert "RUNNING HANDLER" not in rerun
    # preview: a diff, in check mode
    assert "--- before" in preview and "+++ after" in preview
    assert len(RECAP.findall(preview)) == 2

    # the last read shows the state the apply left, not the previewed edit: check mode wrote nothing
    assert '-        "greeting_timeout": "2m",' in preview and '+        "greeting_timeout": "3m",' in preview
    read = yaml.safe_load(textwrap.dedent(steps[5].split("SUCCESS =>", 1)[1]))
    held = {strategy["name"]: strategy for strategy in read["strategies"]}
    assert sorted(held) == ["bulk", "gmail"]
    assert held["gmail"]["greeting_timeout"] == "2m"
    assert {"ip": "192.0.2.10", "ehlo_hostname": "mx1-a.example.org"} in held["bulk"]["source_ips"]
    assert "The simulators are stopped" in steps[6]
    # and they are: nothing listens any more at the URLs the demo printed
    urls = re.findall(r"^mx[12]: http://127\.0\.0\.1:(\d+)$", steps[1], flags=re.M)
    assert len(urls) == 2, steps[1]
    for port in urls:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
