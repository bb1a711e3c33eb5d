"""Faults the simulator cannot fake, on a real Stalwart server of the suite's own: the server stopped
(SIGTERM: a clean shutdown; SIGKILL: a crash) while a 1200-strategy converge is being written,
then started again; two playbooks converging the same server at once; and the answer lost to the
update that follows a create another run made first. Whatever moment the stop
hits, the end state must be exactly the desired strategies: nothing lost, no duplicate.

Real only (a throwaway server started from the given binary; an existing server is never stopped).
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.real.conftest import PREFIX, real_target
from tests.real.proxy import CountingProxy
from tests.real.server import RealServer
from tests.support.ansible import run_tasks

pytestmark = pytest.mark.real
MODULE = "stalwart.mail.mta_connection_strategy"


@pytest.fixture(scope="module")
def server():
    how, what = real_target()
    if how != "binary":
        pytest.skip("needs a throwaway server started from a binary (STALWART_BIN or stalwart on PATH)")
    with RealServer(what) as started:
        yield started


def desired(count=1200):
    return [{"name": f"{PREFIX}crash-{index:04d}", "description": f"strategy {index}", "data_timeout": "20m",
             "source_ips": [{"ip": f"198.51.100.{index % 200 + 1}", "ehlo_hostname": f"out{index}.example.net"}]}
            for index in range(count)]


def stored(server):
    found = {}
    position = 0
    while True:
        query = server.call("x:MtaConnectionStrategy/query", {"position": position, "limit": 500, "calculateTotal": True})
        if not query["ids"]:
            return found
        for item in server.call("x:MtaConnectionStrategy/get", {"ids": query["ids"]})["list"]:
            assert item["name"] not in found, f"duplicate: {item['name']}"
            found[item["name"]] = item
        position += len(query["ids"])
        if position >= query["total"]:
            return found


def clean(server):
    ids = [item["id"] for name, item in stored(server).items() if name != "default"]
    for start in range(0, len(ids), 500):
        server.call("x:MtaConnectionStrategy/set", {"destroy": ids[start:start + 500]})


def converge(server, proxy, tmp_path, label):
    args = {"url": proxy.url, "token": server.admin_token, "strategies": desired(), "retries": 6, "timeout": 20}
    return run_tasks(tmp_path, [{"name": label, MODULE: args, "ignore_errors": True}], timeout=900).result(label)


def check_converged(server):
    found = {name: item for name, item in stored(server).items() if name.startswith(PREFIX)}
    assert sorted(found) == [item["name"] for item in desired()]
    for index, name in enumerate(sorted(found)):
        item = found[name]
        assert (item["description"], item["dataTimeout"]) == (f"strategy {index}", 1_200_000), item
        assert item["sourceIps"] == {"0": {"ehloHostname": f"out{index}.example.net",
                                           "sourceIp": f"198.51.100.{index % 200 + 1}"}}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
@pytest.mark.parametrize("delay", [0.0, 0.05], ids=["at-once", "mid-write"])
def test_a_server_stopped_while_a_converge_is_written_ends_converged(server, tmp_path, sig, delay):
    clean(server)
    hits, landed = [], []

    def stop_and_start_again():
        time.sleep(delay)
        server.stop(sig)
        hits.append(time.monotonic())
        time.sleep(1.0)  # down for a second: the module's re-read is refused and retried meanwhile
        server.start()
        landed.append(len([name for name in stored(server) if name.startswith(PREFIX)]))

    def on_request(entry):
        if entry["class"] == "write" and not hits and not thread.is_alive():
            thread.start()

    thread = threading.Thread(target=stop_and_start_again, daemon=True)
    with CountingProxy(server.url, on_request=on_request) as proxy:
        first = converge(server, proxy, tmp_path, "converge")
        thread.join(60)
        assert hits, "the server was never stopped: no write reached it"
        # the write's answer was lost: whatever the run could settle, it never says "no change"
        assert first["changed"] is True, first
        print(f"{sig.name} after {delay} s: {landed} of 1200 stored at the restart; the run "
              f"{'failed: ' + first['msg'][:200] if first.get('failed') else 'converged by itself'}")
        if first.get("failed"):
            # the interrupted write could not be settled in this run: a re-run finishes the job
            second = converge(server, proxy, tmp_path, "again")
            assert not second.get("failed"), second.get("msg")
        settled = converge(server, proxy, tmp_path, "settled")
        assert not settled.get("failed") and settled["changed"] is False, settled
    check_converged(server)


def test_two_playbooks_converging_at_once_end_with_one_of_each(server, tmp_path):
    clean(server)
    results = {}

    def one(label):
        results[label] = converge(server, proxy, tmp_path / label, label)

    with CountingProxy(server.url) as proxy:
        threads = [threading.Thread(target=one, args=(label,)) for label in ("left", "right")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(900)
        for label, result in results.items():
            assert not result.get("failed"), (label, result.get("msg"))
        assert results["left"]["changed"] or results["right"]["changed"]
        settled = converge(server, proxy, tmp_path, "settled")
        assert settled["changed"] is False
    check_converged(server)


def test_a_lost_answer_to_the_update_after_a_concurrent_create_is_read_again_and_reloaded(server, tmp_path):
    """Another run creates the name between this run's read and its write; the server refuses this
    run's create (primaryKeyViolation), the module updates the other run's strategy, and that
    update's answer is lost. It was written outside the lost-answer recovery: the run failed with
    changed false while the server held the update, and sent no reload, nor did a re-run."""
    clean(server)
    name = f"{PREFIX}race-x"
    writes = []

    def on_request(entry):
        if entry["class"] == "write" and "x:MtaConnectionStrategy/set" in entry["calls"]:
            writes.append(entry)
            if len(writes) == 1:  # the other run, just before this run's create
                server.call("x:MtaConnectionStrategy/set", {"create": {"o": {"name": name, "description": "theirs"}}})

    def lose_answer(entry):
        return len(writes) == 2 and entry is writes[1]

    with CountingProxy(server.url, on_request=on_request, lose_answer=lose_answer) as proxy:
        args = {"url": proxy.url, "token": server.admin_token, "strategies": [{"name": name, "description": "mine"}],
                "reload": True}
        result = run_tasks(tmp_path, [{"name": "race", MODULE: args, "ignore_errors": True}]).result("race")
        assert [entry["status"] for entry in writes] == [200, "lost"], writes
        assert not result.get("failed"), result.get("msg")
        assert result["changed"] is True and result["reloaded"] is True, result
        assert proxy.counts()["calls"].get("x:Action/set") == 1
    assert stored(server)[name]["description"] == "mine"
