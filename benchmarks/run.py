"""The performance benchmark: the role (one module run per host) against a loop of one module
task per strategy, against the floor (a playbook with one no-op task), all in one run on this
machine, with the HTTP cost counted by the Stalwart API simulator.

    python benchmarks/run.py                  # N = 1, 10, 100, 1000; the loop up to N = 100
    python benchmarks/run.py --full           # the loop up to N = 1000 too
    python benchmarks/run.py --quick          # smoke run: tiny N, one repetition, temp output
    python benchmarks/run.py --output DIR     # where performance.md / performance.png go

``scripts/benchmark`` runs it in its own virtualenv (ansible-core, requests, matplotlib) and
writes ``docs/performance.md`` and ``docs/performance.png``. Without matplotlib the table is
written and the plot is skipped.

Every case is one ``ansible-playbook`` process, timed from start to exit (wall time), against
simulators on 127.0.0.1. The repetitions are interleaved (round 1 of every case, then round 2,
...), so that a slow minute on a shared machine spreads over all cases instead of one; each
figure is the median of its rounds, and every ratio compares medians of the same run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# the ansible-core that runs the playbooks (this Python's), and whether the role ends itself there
from tests.support.ansible import ANSIBLE_CORE, ROLE_ENDS_ITSELF  # noqa: E402  (needs ROOT on sys.path)
from tests.support.sim import ADMIN_TOKEN, Simulator  # noqa: E402

import concurrent.futures  # noqa: E402

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ROLE = "stalwart.mail.mta_connection_strategies"
MODULE = "stalwart.mail.mta_connection_strategy"
# the action of the role's usual run, which runs MODULE with the variables it reads
ROLE_ACTION = "stalwart.mail.mta_connection_strategies_role"
COUNTERS = ("requests", "session_requests", "posts", "bytes_in", "bytes_out")
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
# the test connection "not_local": the local connection under another name, so that the
# collection's actions run the modules in processes of their own (the fleet's "module path" case)
CONNECTIONS = ROOT / "tests" / "support" / "connection_plugins"
MODULE_RUNNER = "module-runner"
# the fleet: hosts (one simulator each), forks, strategies per host; and a second size, to show
# how the role's own work per host grows with the list
FLEET_HOSTS, FLEET_FORKS, FLEET_SIZE, FLEET_LARGE = 100, 10, 10, 100
RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s", re.M)

FORMULA = """\
With G = `maxObjectsInGet`, S = `maxObjectsInSet`, C = `maxCallsInRequest` (read from the
server's session resource; 500, 500 and 16 by default) and M = strategies on the server before the
run, one run of the module (one host of the role) sends:

- **1** `GET /jmap/session` (a 404 in the documented dialect, which then uses the defaults);
- **reads**: 1 POST (`/query` sorted by name, limit G, with the total, plus `/get` of its ids, plus
  the outbound strategy's `/get` when purging; that one in a POST of its own if C < 3), and, when M > G, the P = ⌈M/G⌉ − 1 further pages
  as `/query`+`/get` pairs, ⌊C/2⌋ pairs per POST: **1 + ⌈P / ⌊C/2⌋⌉** POSTs. A list of n ≤ C/2
  strategies without purge is read by name instead: 1 POST of n `/query`+`/get` pairs (none
  when n = 0), plus the outbound strategy's `/get` when an item is set absent (read by name
  while 2n + 1 ≤ C), for the warning when mail is routed to it;
- **writes**, only when something changes: the creates, updates and deletes in chunks of S (at
  most G·(C−1)), each chunk one `/set` followed by ⌈c/G⌉ `/get` of the c strategies it created or
  updated; whole chunks packed in order into POSTs of at most C calls and at most
  `maxSizeRequest` bytes (10,000,000 by default: about 60,000 strategies of usual size, so the
  call limit decides unless the server lowers it). With S ≤ G and C even that is
  **⌈2·⌈W/S⌉ / C⌉** POSTs for W creates and updates (**⌈⌈D/S⌉ / C⌉** for D deletes);
- with `reload: true`, **1** POST holding the `ReloadSettings` call alone, after the writes, and
  only when their answers showed a change (a reload must not follow a run whose every change was
  refused);
- no read after the writes (only when a write's answer is lost: then the read again, and the
  writes still missing);
- through the role, the module runs with `reload: false` and, after a change, the role's handler
  sends the reload with `stalwart.mail.reload_settings`: **1** more `GET /jmap/session` and **1**
  POST per changed host.
- through the role **with routing** (`stalwart_mta_connection_routes` or a route default set):
  three module runs in order, each with its own `GET /jmap/session`: the strategies (the formula
  above without purge or the items set absent); the `connection` expression (**1** POST reading
  the outbound strategy and, in a real run, the r strategies the new expression routes to, by
  name while 2r + 1 ≤ C, else the first page of the listing, and its further pages past G;
  **1** POST writing it and reading it back when it changes); with purge
  or an item set absent, the deletes (the formula above; purge keeps the new expression's
  names, and what the server's expression names when it reads: another host or run may have
  written it since).
  `tests/integration/test_request_counts.py` (`routing_cost`) asserts it at N = 10 and 600: a
  constant number of requests per host.

So a run that changes nothing costs 1 + ⌈M/500⌉ requests or fewer at the default limits (2 up to
500 strategies, 3 up to 4500), and a converge adds ⌈2·⌈W/500⌉/16⌉ POSTs (1 up to 4000
changes) plus the module's reload POST, or the handler's 2 requests through the role.
`tests/integration/test_request_counts.py` asserts these counts exactly for N = 1, 10, 600 and
1200, at the default limits and at G = 100, S = 50, C = 4."""


# --- inputs ------------------------------------------------------------------------------------------


def strategies(count):
    """``count`` distinct strategies, each with a description, an EHLO name, a source IP and two
    timeouts: what an IP warm-up pool looks like in inventory."""
    return [{"name": f"pool{index:04d}", "description": f"warm-up pool {index}",
             "ehlo_hostname": f"mx{index}.example.org", "connect_timeout": "2m", "data_timeout": "15m",
             "source_ips": [{"ip": f"10.{index // 250}.{index % 250}.1", "ehlo_hostname": f"out{index}.example.org"}]}
            for index in range(count)]


def loop_task():
    """One module task per strategy: how a user writes it without the batch."""
    args = {"url": "{{ stalwart_url }}", "token": "{{ stalwart_token }}", "name": "{{ item.name }}"}
    for option in ("description", "ehlo_hostname", "source_ips", "connect_timeout", "data_timeout"):
        args[option] = "{{ item.%s }}" % option
    args["reload"] = True
    return {"name": "Apply one strategy", MODULE: args,
            "loop": "{{ stalwart_mta_connection_strategies }}",
            "loop_control": {"label": "{{ item.name }}"}, "delegate_to": "localhost"}


PLAYS = {
    "role": lambda: {"hosts": "mailservers", "gather_facts": False,
                     "roles": [{"role": ROLE}]},
    "loop": lambda: {"hosts": "mailservers", "gather_facts": False,
                     "tasks": [loop_task()]},
    "floor": lambda: {"hosts": "mailservers", "gather_facts": False,
                      "tasks": [{"name": "Do nothing", "ansible.builtin.ping": {}, "delegate_to": "localhost"}]},
    # the floor with the N strategies in the inventory (not used): what loading the data costs
    "data": lambda: {"hosts": "mailservers", "gather_facts": False,
                     "tasks": [{"name": "Do nothing", "ansible.builtin.ping": {}, "delegate_to": "localhost"}]},
    # Ansible's own cost of a task that starts no module, once and twice per host (the role's no-op
    # forks two workers per host: its argument validation and the module task; the meta task that
    # then ends the role runs in the main process)
    "debug-1": lambda: {"hosts": "mailservers", "gather_facts": False, "tasks": [
        {"name": "Say nothing", "ansible.builtin.debug": {"msg": "-"}, "delegate_to": "localhost"}]},
    "debug-2": lambda: {"hosts": "mailservers", "gather_facts": False, "tasks": [
        {"name": f"Say nothing {index}", "ansible.builtin.debug": {"msg": "-"}, "delegate_to": "localhost"}
        for index in range(1, 3)]},
}


class Scenario:
    """A directory with a playbook, an inventory of ``len(sims)`` hosts and ``size`` strategies."""

    def __init__(self, work, label, kind, size, sims, forks=5, module_path=False):
        self.label, self.kind, self.size, self.sims, self.forks = label, kind, size, sims, forks
        self.dir = work / label
        self.dir.mkdir(parents=True)
        hosts = {host_name(index): {"stalwart_url": sim.url} for index, sim in enumerate(sims)}
        group_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                      "stalwart_token": ADMIN_TOKEN}
        if module_path:
            # the role's tasks delegated to a host whose connection is not local: the modules run
            # in processes of their own, as every task did before the action plugins
            group_vars["stalwart_delegate_to"] = MODULE_RUNNER
        inventory = {"all": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                      MODULE_RUNNER: {"ansible_connection": "not_local", "ansible_python_interpreter": sys.executable}},
            "children": {"mailservers": {"hosts": hosts, "vars": group_vars}}}}
        (self.dir / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        # the strategies live in the inventory's group_vars, where users keep them (a vars_files
        # entry would be parsed again for every task: ansible-core caches only vaulted vars_files)
        (self.dir / "group_vars").mkdir()
        (self.dir / "group_vars/mailservers.yml").write_text(
            yaml.safe_dump({"stalwart_mta_connection_strategies": strategies(size)}, sort_keys=False))
        (self.dir / "playbook.yml").write_text(yaml.safe_dump([{"name": label, **PLAYS[kind]()}], sort_keys=False))
        (self.dir / "ansible.cfg").write_text("[defaults]\n")

    def environment(self, collections):
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "STALWART_"))}
        env.pop("PYTHONPATH", None)
        env.update(ANSIBLE_CONFIG=str(self.dir / "ansible.cfg"), ANSIBLE_HOME=str(self.dir / "home"),
                   ANSIBLE_LOCAL_TEMP=str(self.dir / "tmp"), ANSIBLE_COLLECTIONS_PATH=str(collections),
                   ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0",
                   ANSIBLE_CONNECTION_PLUGINS=str(CONNECTIONS),
                   # per-task wall times (benchmarks/callback_plugins/task_times.py)
                   ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS), ANSIBLE_CALLBACKS_ENABLED="task_times",
                   BENCHMARK_TASK_TIMES=str(self.dir / "task-times.json"))
        return env

    def run(self, collections):
        """One ``ansible-playbook``: ``{"wall": seconds, "recap": {host: changed}, "spent": counters,
        "tasks": {task name: seconds}}`` (the simulators' counters that the run moved, summed over
        the hosts; each task's wall time from the task_times callback)."""
        before = [sim.stats() for sim in self.sims]
        command = [sys.executable, str(ANSIBLE_PLAYBOOK), "-i", "inventory.yml", "-f", str(self.forks),
                   "playbook.yml"]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=self.dir, env=self.environment(collections), capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{self.label}: ansible-playbook failed (rc {done.returncode})\n"
                             f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        recap = {match["host"]: int(match["changed"]) for match in RECAP.finditer(done.stdout)}
        spent = dict.fromkeys(COUNTERS, 0)
        for old, sim in zip(before, self.sims):
            new = sim.stats()
            for key in COUNTERS:
                spent[key] += new[key] - old[key]
        timing = json.loads((self.dir / "task-times.json").read_text())
        tasks = {}
        for name, seconds in timing["tasks"]:
            tasks[name] = tasks.get(name, 0.0) + seconds
        return {"wall": wall, "recap": recap, "spent": spent, "tasks": tasks}


def host_name(index):
    return f"mx{index + 1:02d}"


# --- measuring ---------------------------------------------------------------------------------------


class Case:
    """The samples of one line of the table."""

    def __init__(self, label, kind, phase, size, hosts=1, tasks_per_host=None):
        self.label, self.kind, self.phase, self.size, self.hosts = label, kind, phase, size, hosts
        self.tasks_per_host = tasks_per_host
        self.walls = []
        self.spent = []
        self.tasks = []

    def add(self, outcome):
        self.walls.append(outcome["wall"])
        self.spent.append(outcome["spent"])
        self.tasks.append(outcome["tasks"])

    def task_median(self, prefix, required=True):
        """Median wall time of the task whose name starts with ``prefix`` (0 for a run without it,
        unless ``required``)."""
        times = [sum(seconds for name, seconds in tasks.items() if name.startswith(prefix)) for tasks in self.tasks
                 if not required or any(name.startswith(prefix) for name in tasks)]
        if len(times) != len(self.tasks):
            raise SystemExit(f"{self.label}: no task named {prefix!r}... in some runs: {self.tasks}")
        return statistics.median(times)

    @property
    def median(self):
        return statistics.median(self.walls)

    def per_round(self, other):
        """This case's time ÷ ``other``'s, round by round (each runs once per round, minutes apart):
        the machine's speed drifts during a run (the ping once took 15 s in a round and 25 s three
        rounds later), and a ratio of two runs made under the same conditions does not drift with
        it."""
        return [mine / theirs for mine, theirs in zip(self.walls, other.walls, strict=True)]

    def ratio(self, other):
        """The median of ``per_round(other)``, and its range."""
        ratios = self.per_round(other)
        return statistics.median(ratios), min(ratios), max(ratios)

    def counters(self):
        """The simulator's counters of the runs; they must not vary between repetitions."""
        distinct = {tuple(spent[key] for key in ("requests", "session_requests", "posts")) for spent in self.spent}
        if len(distinct) != 1:
            raise SystemExit(f"{self.label}: the request counts varied between runs: {sorted(distinct)}")
        return self.spent[-1]


def reset(sims):
    for sim in sims:
        sim.reset()  # only the seeded "default", counters at zero


def check_converged(label, sims, size, recap, expect_change):
    """The run did what it is timed for: every host changed (or not), every server holds the list."""
    for index, sim in enumerate(sims):
        host = host_name(index)
        if recap.get(host) is None or bool(recap[host]) != expect_change:
            raise SystemExit(f"{label}: {host} reported changed={recap.get(host)}, expected "
                             f"{'a change' if expect_change else 'no change'}")
        if len(sim.objects()) != size + 1:
            raise SystemExit(f"{label}: {host} holds {len(sim.objects())} strategies, expected {size + 1}")


def start_all(sims):
    """Start the simulators a few at a time (a fleet is a hundred processes)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda sim: sim.start(), sims))


def measure(args, work, collections):
    sizes = [1, 2] if args.quick else [1, 10, 100, 1000]
    loop_max = 2 if args.quick else (1000 if args.full else 100)
    fleet_hosts, fleet_forks = (2, 2) if args.quick else (FLEET_HOSTS, FLEET_FORKS)
    fleet_size, fleet_large = (2, 3) if args.quick else (FLEET_SIZE, FLEET_LARGE)
    reps = args.reps or (1 if args.quick else 5)

    single = Simulator()
    fleet = [Simulator() for _host in range(fleet_hosts)]
    try:
        # started inside the try: when one fails to start, the finally stops those already running
        start_all([single, *fleet])
        plan = []  # (scenario, converge case, no-op case, ping scenario and case to run after them or None)
        floor = Case("floor: one no-op task", "floor", "floor", None)
        floors = [(Scenario(work, "floor", "floor", 0, [single]), floor)]
        cases = [floor]
        for size in sizes:
            data = Case("floor + the N strategies in group_vars", "data", "floor", size)
            floors.append((Scenario(work, f"data-{size}", "data", size, [single]), data))
            cases.append(data)
        for size in sizes:
            for kind in ("role", "loop"):
                if kind == "loop" and size > loop_max:
                    continue
                scenario = Scenario(work, f"{kind}-{size}", kind, size, [single])
                pair = (Case(f"{kind} converge", kind, "converge", size), Case(f"{kind} no-op", kind, "no-op", size))
                plan.append((scenario, *pair, None))
                cases.extend(pair)
        # the fleet: the role's tasks in the worker, the same with the modules in processes of their
        # own, and ansible.builtin.ping over the same hosts, run one after the other in each round
        hosts = f"{fleet_hosts} hosts, forks {fleet_forks}"
        ping = [(Scenario(work, "fleet-ping", "floor", fleet_size, fleet, forks=fleet_forks),
                 Case(f"fleet: ansible.builtin.ping, {hosts}", "fleet-ping", "floor", fleet_size, fleet_hosts)),
                (Scenario(work, "fleet-debug-1", "debug-1", fleet_size, fleet, forks=fleet_forks),
                 Case(f"fleet: one ansible.builtin.debug task, {hosts}", "fleet-debug", "floor", fleet_size,
                      fleet_hosts, tasks_per_host=1)),
                (Scenario(work, "fleet-debug-2", "debug-2", fleet_size, fleet, forks=fleet_forks),
                 Case(f"fleet: two ansible.builtin.debug tasks, {hosts}", "fleet-debug", "floor", fleet_size,
                      fleet_hosts, tasks_per_host=2))]
        for label, kind, size, module_path in (("fleet", "fleet", fleet_size, False),
                                               ("fleet-module", "fleet-module", fleet_size, True),
                                               (f"fleet-{fleet_large}", "fleet", fleet_large, False)):
            how = "the modules in processes of their own" if module_path else "the role"
            scenario = Scenario(work, label, "role", size, fleet, forks=fleet_forks, module_path=module_path)
            pair = (Case(f"fleet converge: {how}, {hosts}", kind, "converge", size, fleet_hosts),
                    Case(f"fleet no-op: {how}, {hosts}", kind, "no-op", size, fleet_hosts))
            plan.append((scenario, *pair, ping if label == "fleet" else None))
            cases.extend(pair)
            if label == "fleet":
                cases.extend(case for _scenario, case in ping)

        load_before = os.getloadavg()
        started = time.monotonic()
        for round_number in range(1, reps + 1):
            print(f"round {round_number}/{reps}", flush=True)
            for scenario, case in floors:
                case.add(scenario.run(collections))
            for scenario, converge, noop, after in plan:
                reset(scenario.sims)
                for case, expect_change in ((converge, True), (noop, False)):
                    outcome = scenario.run(collections)
                    check_converged(scenario.label, scenario.sims, scenario.size, outcome["recap"], expect_change)
                    case.add(outcome)
                    print(f"  {scenario.label:12} {case.phase:8} {outcome['wall']:7.2f} s  "
                          f"{outcome['spent']['requests']:6} requests", flush=True)
                for floor_scenario, floor_case in after or ():
                    outcome = floor_scenario.run(collections)
                    floor_case.add(outcome)
                    print(f"  {floor_scenario.label:12} {'floor':8} {outcome['wall']:7.2f} s", flush=True)
        context = {"reps": reps, "load_before": load_before, "load_after": os.getloadavg(),
                   "elapsed": time.monotonic() - started, "fleet_hosts": fleet_hosts, "fleet_size": fleet_size,
                   "fleet_large": fleet_large, "fleet_forks": fleet_forks, "loop_max": loop_max, "sizes": sizes,
                   "full": args.full, "quick": args.quick}
        return cases, context
    finally:
        for sim in [single, *fleet]:
            sim.stop()


# --- reporting ---------------------------------------------------------------------------------------


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import ansible  # the benchmark's own ansible-core, the one that ran the playbooks
    return {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "ansible": ansible.__version__}


def find(cases, kind, phase, size):
    for case in cases:
        if case.kind == kind and case.phase == phase and case.size == size:
            return case
    return None


def kib(count):
    return f"{count / 1024:.1f}"


FLEET_KINDS = ("fleet", "fleet-module", "fleet-ping", "fleet-debug")


def table(cases):
    floor = find(cases, "floor", "floor", None)
    lines = ["| case | N | runs | median s | min–max s | requests | of which POSTs | KiB sent | KiB received "
             "| × floor | loop ÷ role |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        if case.kind in FLEET_KINDS:
            continue
        spent = case.counters()
        loop = find(cases, "loop", case.phase, case.size) if case.kind == "role" else None
        size = "" if case.size is None else (f"{case.hosts} × {case.size}" if case.hosts > 1 else str(case.size))
        lines.append(
            f"| {case.label} | {size} | {len(case.walls)} | {case.median:.2f} | {min(case.walls):.2f}–"
            f"{max(case.walls):.2f} | {spent['requests']} | {spent['posts']} | {kib(spent['bytes_in'])} | "
            f"{kib(spent['bytes_out'])} | {case.median / floor.median:.2f} | "
            f"{f'{loop.median / case.median:.1f}' if loop else ''} |")
    return "\n".join(lines)


VALIDATION_TASK = f"{ROLE} : Validating arguments"
MODULE_TASK = f"{ROLE} : Apply"
# what follows the module task: on ansible-core 2.18.3 and later the meta task that ends the role
# where the module task did the whole run (run by the main process, no worker); on 2.16 to 2.18.2 the
# meta noop imported in its place, then the include of the deliverability and routing steps and the
# block's last task, both skipped (each a worker per host)
STEPS_TASK = (f"{ROLE} : End the role", f"{ROLE} : Go on with the steps",
              f"{ROLE} : Check deliverability before, or route mail after",
              f"{ROLE} : Have the handler reload what a step applied")
HANDLER_TASK = f"{ROLE} : Reload Stalwart settings"
PING_TASK = "Do nothing"
DEBUG_TASK = "Say nothing"


def fleet_table(cases):
    """The fleet's cases, each against the ping over the same hosts."""
    ping = next(case for case in cases if case.kind == "fleet-ping")
    lines = ["| case | hosts × N | runs | median s | min–max s | requests | of which POSTs | ÷ ping (range) "
             "| per host ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        if case.kind not in FLEET_KINDS:
            continue
        spent = case.counters()
        lines.append(
            f"| {case.label} | {case.hosts} × {case.size} | {len(case.walls)} | {case.median:.2f} | "
            f"{min(case.walls):.2f}–{max(case.walls):.2f} | {spent['requests']} | {spent['posts']} | "
            f"{'{:.2f} ({:.2f}–{:.2f})'.format(*case.ratio(ping))} | {case.median / case.hosts * 1000:.0f} |")
    return "\n".join(lines)


def fleet_breakdown(cases):
    """Each fleet case's tasks, their wall time over all hosts and per host."""
    lines = ["| case | hosts × N | median s | argument validation s | module task s | end of the role s "
             "| reload handler s | the rest s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        if case.kind == "fleet-ping":
            task = case.task_median(PING_TASK)
            lines.append(f"| {case.label} | {case.hosts} × {case.size} | {case.median:.2f} | | {task:.2f} "
                         f"(`ansible.builtin.ping`) | | | {case.median - task:.2f} |")
            continue
        if case.kind == "fleet-debug":
            task = case.task_median(DEBUG_TASK)
            lines.append(f"| {case.label} | {case.hosts} × {case.size} | {case.median:.2f} | | {task:.2f} "
                         f"(`ansible.builtin.debug`) | | | {case.median - task:.2f} |")
            continue
        if case.kind not in FLEET_KINDS:
            continue
        validation, module = case.task_median(VALIDATION_TASK), case.task_median(MODULE_TASK)
        steps = case.task_median(STEPS_TASK)
        handler = case.task_median(HANDLER_TASK, required=case.phase == "converge")
        rest = case.median - validation - module - steps - handler
        lines.append(f"| {case.label} | {case.hosts} × {case.size} | {case.median:.2f} | {validation:.2f} | "
                     f"{module:.2f} | {steps:.2f} | {handler:.2f} | {rest:.2f} |")
    return "\n".join(lines)


def per_host(case, prefix, required=True):
    """Milliseconds of wall time per host of the task named ``prefix``..."""
    return case.task_median(prefix, required=required) / case.hosts * 1000


def fleet_story(cases, context):
    """What a host costs in the fleet, before (the modules in processes of their own) and after
    (the worker), from the task times of the same run."""
    ping = next(case for case in cases if case.kind == "fleet-ping")
    size = context["fleet_size"]
    worker, module = find(cases, "fleet", "no-op", size), find(cases, "fleet-module", "no-op", size)
    worker_converge = find(cases, "fleet", "converge", size)
    large = find(cases, "fleet", "no-op", context["fleet_large"])
    return (
        f"With {ping.hosts} hosts and forks {context['fleet_forks']}, one `ansible.builtin.ping` task costs "
        f"{per_host(ping, PING_TASK):.0f} ms of wall time per host: Ansible forks a worker for the host, and "
        f"the worker packs the module, starts a Python on the target (here the controller itself), "
        f"imports the module's code and runs it. Each of the collection's modules paid the same, plus "
        f"`requests`, for every host: the role's module task took {per_host(module, MODULE_TASK):.0f} ms "
        f"per host that way (the no-op with the modules in processes of their own, "
        f"{module.median:.2f} s in all). In the worker the same task takes "
        f"{per_host(worker, MODULE_TASK):.0f} ms per host: the fork of the worker, reading the role's "
        f"variables and merging the layers (in Python: the task has two templates of its own, `delegate_to` "
        f"and `notify`), two HTTP requests and the result. What a no-op host costs now "
        f"is mostly Ansible's own cost per task: the role forks two workers per host where the ping forks "
        f"one (the argument validation that ansible-core adds for `meta/argument_specs.yml`, "
        f"{per_host(worker, VALIDATION_TASK):.0f} ms per host, and the module task), then "
        + ("ends the role with a meta task that Ansible's main process runs without a worker "
           f"({per_host(worker, STEPS_TASK):.0f} ms per host)" if ROLE_ENDS_ITSELF else
           "goes through a meta noop and two skipped tasks, each skipped task a worker per host "
           f"({per_host(worker, STEPS_TASK):.0f} ms per host; ansible-core {'.'.join(map(str, ANSIBLE_CORE))} "
           "cannot end the role per host with meta end_role, which 2.18.3 and later can)")
        + ", and a converge adds a third worker (the "
        f"reload handler, {per_host(worker_converge, HANDLER_TASK):.0f} ms per host). With "
        f"{large.size} strategies per host the no-op takes {large.median:.2f} s: the role's argument "
        f"validation and the reading of the list grow with it "
        f"({per_host(large, VALIDATION_TASK):.0f} and {per_host(large, MODULE_TASK):.0f} ms per host)."
        + floor_story(cases, ping, worker))


def floor_story(cases, ping, worker):
    """How the role's no-op compares with tasks that start no module at all: Ansible's floor."""
    debugs = {case.tasks_per_host: case for case in cases if case.kind == "fleet-debug"}
    if 1 not in debugs or 2 not in debugs:
        return ""
    one, two = debugs[1], debugs[2]
    return (
        f"\n\nThe floor of any role is Ansible's own cost per task and host: one `ansible.builtin.debug` "
        f"task over the same hosts takes {one.median:.2f} s ({one.median / ping.median:.2f} of the ping), two "
        f"take {two.median:.2f} s ({two.median / ping.median:.2f} of it): a worker forked for every host and "
        f"task by Ansible's main process, one at a time, and the task's templating in it. The role's no-op "
        f"forks two workers per host and takes {worker.median:.2f} s, "
        f"{worker.median - two.median:+.2f} s from two tasks that do nothing: its templating (the merge of "
        f"the layers, the connection options, the test for the steps), the argument validation of the list, two "
        f"HTTP requests per host and their results.")


def breakdown(cases):
    """Where the role's time goes, per N: argument validation, the module task, the rest."""
    lines = ["| role | N | median s | argument validation s | module task s | end of the role s | reload handler s "
             "| the rest s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        if case.kind != "role" or case.hosts != 1:
            continue
        validation, module = case.task_median(VALIDATION_TASK), case.task_median(MODULE_TASK)
        steps = case.task_median(STEPS_TASK)
        handler = case.task_median(HANDLER_TASK, required=case.phase == "converge")
        lines.append(f"| {case.phase} | {case.size} | {case.median:.2f} | {validation:.2f} | {module:.2f} | "
                     f"{steps:.2f} | {handler:.2f} | {case.median - validation - module - steps - handler:.2f} |")
    return "\n".join(lines)


def goals(cases):
    """The issue's two goals: (text, met) each, or a reason it could not be measured."""
    results = []
    role100, loop100 = find(cases, "role", "converge", 100), find(cases, "loop", "converge", 100)
    if role100 and loop100:
        for phase in ("converge", "no-op"):
            role, loop = find(cases, "role", phase, 100), find(cases, "loop", phase, 100)
            ratio = loop.median / role.median
            results.append((f"N = 100, {phase}: the loop takes {loop.median:.2f} s, the role {role.median:.2f} s: "
                            f"the role is {ratio:.1f} times faster (goal: at least 20)", ratio >= 20))
        loop = find(cases, "loop", "no-op", 100)
        text = (f"Both ratios fell because the loop got faster, not the role slower: each item of the loop is "
                f"now a module task in the worker (the action plugins), {loop.median / 100 * 1000:.0f} ms per item "
                f"in the no-op, and the simulator no longer holds each answer's body back for the client's delayed "
                f"ACK (up to 40 ms per answer, which the real server never added: docs/compatibility.md), a delay "
                f"the loop paid once per item and the role once per run. The goal of 20 was set from measurements "
                f"that counted that delay")
        module = next((case for case in cases if case.kind == "fleet-module" and case.phase == "no-op"), None)
        worker = find(cases, "fleet", "no-op", module.size) if module else None
        if module and worker:
            text += (f" (in the fleet below, the module task costs {per_host(module, MODULE_TASK):.0f} ms per host in "
                     f"a process of its own and {per_host(worker, MODULE_TASK):.0f} ms in the worker)")
        results.append((text, None))
    else:
        results.append(("N = 100 not measured (a --quick run)", None))
    role1, role1000 = find(cases, "role", "converge", 1), find(cases, "role", "converge", 1000)
    if role1 and role1000:
        ratio = role1000.median / role1.median
        results.append((f"The role's converge takes {role1000.median:.2f} s at N = 1000 and {role1.median:.2f} s at "
                        f"N = 1: {ratio:.2f} times (goal: at most 2)", ratio <= 2))
        # the handler's reload is a fixed cost in both; say what the ratio is without it
        handler1, handler1000 = role1.task_median(HANDLER_TASK), role1000.task_median(HANDLER_TASK)
        bare = (role1000.median - handler1000) / (role1.median - handler1)
        results.append((f"The same without the reload handler's fixed cost ({handler1:.2f} s and {handler1000:.2f} s): "
                        f"{role1000.median - handler1000:.2f} s against {role1.median - handler1:.2f} s, {bare:.2f} times",
                        None))
        results.append(("The ratio grew with the action plugins because the fixed cost of a run shrank (no module "
                        "process per task), not because the list costs more: what grows with N is the role's "
                        f"argument validation and the reading of the list ({role1000.task_median(VALIDATION_TASK):.2f} s "
                        f"and {role1000.task_median(MODULE_TASK):.2f} s for the module task at N = 1000, the table below)",
                        None))
    else:
        results.append(("N = 1000 not measured (a --quick run)", None))
    ping = next((case for case in cases if case.kind == "fleet-ping"), None)
    worker = [case for case in cases if case.kind == "fleet" and case.size == ping.size] if ping else []
    for case in worker:
        limit, words = (1 / 3, "a third") if case.phase == "no-op" else (1 / 2, "half")
        ratio, low, high = case.ratio(ping)
        results.append((f"Fleet of {case.hosts} hosts × {case.size} strategies, {case.phase}: the role takes "
                        f"{case.median:.2f} s, `ansible.builtin.ping` {ping.median:.2f} s (medians); round by round "
                        f"the role took {ratio:.2f} of the ping's time (median; {low:.2f}–{high:.2f}) "
                        f"(goal: at most {words})", ratio <= limit))
    return results


def plot(cases, path):
    """Wall time against N, log-log; False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    figure, (axes, bars) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    styles = {("role", "converge"): ("tab:blue", "o", "-"), ("role", "no-op"): ("tab:blue", "s", "--"),
              ("loop", "converge"): ("tab:red", "o", "-"), ("loop", "no-op"): ("tab:red", "s", "--")}
    for (kind, phase), (color, marker, line) in styles.items():
        points = sorted((case.size, case.median) for case in cases if case.kind == kind and case.phase == phase)
        if points:
            label = {"role": "role (one module run)", "loop": "loop of single-strategy tasks"}[kind]
            axes.plot(*zip(*points), color=color, marker=marker, linestyle=line, label=f"{label}, {phase}")
    points = sorted((case.size, case.median) for case in cases if case.kind == "data")
    if points:
        axes.plot(*zip(*points), color="grey", marker=".", linestyle="-.", label="floor + the N strategies in group_vars")
    floor = find(cases, "floor", "floor", None)
    axes.axhline(floor.median, color="grey", linestyle=":", label=f"floor: one no-op task ({floor.median:.2f} s)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_xlabel("strategies per host (N)")
    axes.set_ylabel("wall time of ansible-playbook, median (s)")
    axes.set_title("one host: converge and no-op against N")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    # the fleet: each case against the ping over the same hosts, and the goals
    fleet = [case for case in cases if case.kind in FLEET_KINDS]
    ping = next((case for case in fleet if case.kind == "fleet-ping"), None)
    if ping is not None:
        colors = {"fleet": "tab:blue", "fleet-module": "tab:orange", "fleet-ping": "grey", "fleet-debug": "silver"}
        labels = [case.label.split(f", {ping.hosts} hosts")[0].replace("fleet: ", "").replace("fleet ", "")
                  + ("" if case.size == ping.size else f" (N = {case.size})") for case in fleet]
        positions = range(len(fleet))
        bars.barh(positions, [case.median for case in fleet], color=[colors[case.kind] for case in fleet],
                  xerr=[[case.median - min(case.walls) for case in fleet], [max(case.walls) - case.median for case in fleet]],
                  capsize=3)
        bars.set_yticks(list(positions))
        bars.set_yticklabels(labels, fontsize=7)
        bars.invert_yaxis()
        bars.axvline(ping.median / 3, color="tab:green", linestyle="--", label="goal for the no-op: ping ÷ 3")
        bars.axvline(ping.median / 2, color="tab:green", linestyle=":", label="goal for the converge: ping ÷ 2")
        bars.set_xlabel("wall time of ansible-playbook, median (s)")
        bars.set_title(f"fleet: {ping.hosts} hosts, N = {ping.size} unless said")
        bars.grid(True, axis="x", alpha=0.3)
        bars.legend(fontsize=7, loc="lower right")
    else:
        bars.set_visible(False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def report(cases, context, output):
    output.mkdir(parents=True, exist_ok=True)
    plotted = plot(cases, output / "performance.png")
    info = machine()
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "scripts/benchmark" + (" --full" if context["full"] else "") + (" --quick" if context["quick"] else "")
    goal_lines = []
    for text, met in goals(cases):
        verdict = "" if met is None else (" **met**" if met else " **not met**")
        goal_lines.append(f"- {text}:{verdict}" if met is not None else f"- {text}")
    loop_note = (f"up to N = {context['loop_max']}" + ("" if context["full"] else " (N = 1000 with `--full`)"))
    text = f"""# Performance

Written by `{command}` (`benchmarks/run.py`) on {today}; re-run it to refresh this page and
`performance.png`. The request counts are exact and the same on every machine; the times are this
machine's, and only their ratios (all from the same run) carry over.

## The formula

{FORMULA}

## How it was measured

- Machine: {info['cpu']}, {info['cores']} cores, {info['os']}; Python {info['python']}, ansible-core
  {info['ansible']}. The machine was shared: load average {context['load_before'][0]:.2f} at the start,
  {context['load_after'][0]:.2f} at the end; the whole run took {context['elapsed'] / 60:.1f} minutes.
- Each case is one `ansible-playbook` process against the Stalwart API simulator
  (`simulator/stalwart_sim.py`) over HTTP on 127.0.0.1, timed from start to exit. Each case ran
  {context['reps']} times, the rounds interleaved (every case once, then again); the table gives the median and
  the range. Requests and bytes are the simulator's counters (`/_sim/stats`): requests received,
  request bodies received ("KiB sent" by Ansible) and response bodies sent ("KiB received").
- **converge**: from a server holding only its `default` strategy to N strategies (each with a
  description, an EHLO name, one source IP and two timeouts), reload on; **no-op**: the same
  playbook again. Every run is checked: the converge reports a change and leaves N + 1 strategies,
  the no-op reports none.
- **role**: `{ROLE}` with the N strategies in `stalwart_mta_connection_strategies`
  (one module run per host, then the handler's reload: one more module run, 1 session request
  and 1 POST, on a converge).
- **loop**: one `{MODULE}` task with `loop:` over the same list, one strategy per
  item with `reload: true`, as the module's single-strategy form is written without the batch;
  {loop_note}.
- **floor**: a playbook with one no-op task (`ansible.builtin.ping`): what any playbook costs;
  **floor + the N strategies in group_vars**: the same with the N strategies in the inventory (as
  for the role and the loop) but not used: what loading the inventory data costs.
- **fleet**: {context['fleet_hosts']} simulators as {context['fleet_hosts']} hosts, with forks {context['fleet_forks']}:
  the role with {context['fleet_size']} strategies per host (and again with {context['fleet_large']}), converge and no-op;
  the same role with its tasks delegated to a host whose connection is not local (the test
  connection `not_local` of `tests/support/connection_plugins/`), so that every task runs its
  module in a process of its own, as all of them did before the action plugins; and one
  `ansible.builtin.ping` task over the same hosts, delegated to localhost as the role's tasks are
  (the floor of any design that starts a module per host); and one and two
  `ansible.builtin.debug` tasks over them (the floor of any role: tasks that start no module).
  Requests are summed over the hosts.
- "× floor": median ÷ the floor's median; "loop ÷ role": the loop's median ÷ the role's, same N
  and phase.

## Results

{table(cases)}

{"![wall time against N, log axes](performance.png)" if plotted else "(plot skipped: matplotlib is not installed)"}

## Goals

{chr(10).join(goal_lines)}

## Where the role's time goes

Task times from a callback (`benchmarks/callback_plugins/task_times.py`), medians of the same
runs: **argument validation** is the task ansible-core inserts for the role's
`meta/argument_specs.yml` (it templates and deep-copies the whole list to check every item);
**module task** is the role's one run of `{MODULE}` (its action,
`{ROLE_ACTION}`, reads the role's variables and merges the layers in Python; then the module's
engine in the controller's worker with its HTTP requests, and the result); **end of the role** is
the meta task that ends the role where the module task did the whole run (ansible-core 2.18.3
and later; the main process runs it, without a worker), or on 2.16 to 2.18.2 the meta noop in its
place, the include of the deliverability and routing steps and the
block's last task, both skipped when neither is on;
**reload handler** is the role's handler on a converge (`stalwart.mail.reload_settings`);
**the rest** is process start, reading the inventory and the playbook, and exit.

{breakdown(cases)}

## The fleet

Every module of the collection has an action plugin of the same name that runs the module's
engine inside the worker process Ansible forks for each host's task, when the task's connection is
local (the role's `delegate_to: localhost`); with `async`, a connection that is not local,
`become`, or a controller Python that cannot import `requests`, it runs the module as before. The
controller therefore needs `requests` for the Python that runs `ansible-playbook` (for a fleet
to be fast; without it the modules still run, slower, and a warning names that Python).

{fleet_table(cases)}

"÷ ping (range)": in each round, the case's time ÷ the time of `ansible.builtin.ping` over the same
hosts in that round; the median over the rounds, and the lowest and highest (the machine's speed
drifts during a run, so each case is compared with the ping run under the same conditions, minutes
apart); "per host ms": median ÷ hosts. Where the time goes, per task, over all hosts (the same callback):

{fleet_breakdown(cases)}

{fleet_story(cases, context)}
"""
    (output / "performance.md").write_text(text)
    return output / "performance.md"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--full", action="store_true", help="run the loop of single-strategy tasks up to N = 1000")
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 1, 2; one repetition; 2 hosts")
    parser.add_argument("--reps", type=int, help="repetitions per case (default 5; 1 with --quick)")
    parser.add_argument("--output", type=Path, help="directory for performance.md and performance.png "
                        "(default docs/; a temporary directory with --quick)")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    output = args.output or (Path(tempfile.mkdtemp(prefix="stalwart-bench-")) if args.quick else ROOT / "docs")
    with tempfile.TemporaryDirectory(prefix="stalwart-bench-work-") as work:
        work = Path(work)
        collections = work / "collections"
        (collections / "ansible_collections" / "stalwart").mkdir(parents=True)
        (collections / "ansible_collections" / "stalwart" / "mail").symlink_to(ROOT, target_is_directory=True)
        cases, context = measure(args, work, collections)
    written = report(cases, context, output)
    print(f"wrote {written}")
    for text, met in goals(cases):
        print(("MET: " if met else "NOT MET: " if met is not None else "") + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
