"""Secrets and TLS (docs/reliability.md).

Secrets: with ``-vvvv`` and ``--diff``, through forced failures and through successful runs, the
token and the password appear nowhere: not in stdout, not in stderr, not in any task result
(messages, return values, diffs, warnings). The forced failures (401, a real HTTP 403, a TLS
failure, a timeout, a server error) are run with each way of giving the secret: a ``token``, a
``password``, a ``password_file``, and ``STALWART_USER``/``STALWART_PASSWORD`` in the environment;
the token also meets a 502, ``serverUnavailable``, a dropped connection, a missing permission
and a server refusal. The faults are queued before the playbook, each waiting for a request
that names its task's strategy (``body_contains``), so that all of it takes two
``ansible-playbook`` runs (one with the environment set). Every task must fail for the reason it was set up for, else it proves nothing. The secret
values are long and unique where the test chooses them, so that a search cannot hit by
accident, and the search also looks for the forms a leak would take on the wire
(``Bearer <token>``, the base64 of ``user:password``).

TLS (the module run in the test process, ``tests/support/inproc.py``): the simulator serves HTTPS
with a certificate made here, signed by a CA made here. By default the module refuses it with a clear message that names both ways out (``ca_path`` and
``validate_certs``); ``ca_path`` (or ``STALWART_CA_PATH``) makes it work; ``validate_certs: false``
makes it work.

Plain HTTP to a host that is not loopback gives a warning that credentials travel in clear. The
test must not send a single packet to a non-loopback address, so it uses ``http://[fe80::1]:1``:
an IPv6 link-local address without a zone, which the kernel refuses at ``connect()`` (EINVAL)
before any packet is sent, and proxies are switched off so that no proxy is contacted either.
The warning is checked on the failed result (``fail_json`` carries the warnings raised before it).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re

import pytest

from tests.integration.conftest import INFO_MODULE, MODULE
from tests.support import inproc
from tests.support.ansible import run_playbook, run_tasks
from tests.support.sim import ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER, Simulator

SECRET_TOKEN = "S3cr3t-Tok3n-Zq9xW2-k7HdP4vN"
WRONG_TOKEN = "Wr0ng-Tok3n-Jf6pL1-x9CeR2sB"
WRONG_PASSWORD = "Wr0ng-Pa55w0rd-Qx7vK3-m4TgY8"
READONLY_SECRET = "R3ad0nly-S3cr3t-Hw5tN8-p2LkQ9"
INTRUDER = "intruder@example.com"  # no such user: a 401 with the right password from the environment
NO_PROXY_ENV = {"HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "", "https_proxy": "",
                "NO_PROXY": "*", "no_proxy": "*"}
CLEAR_TEXT_WARNING = re.compile(r"clear|unencrypted|plain ?text|not encrypted|without TLS", re.IGNORECASE)


def leaks(outcome, secrets, basic=()):
    """Every place in the whole output where one of ``secrets`` (or its wire form) shows;
    ``basic`` holds (user, password) pairs whose ``Authorization: Basic`` form is looked for too."""
    forms = set()
    for secret in secrets:
        forms.add(secret)
        forms.add(base64.b64encode(secret.encode()).decode())
    for user, password in [(ADMIN_USER, WRONG_PASSWORD), *basic]:
        forms.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    haystacks = {
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "results": json.dumps(outcome.results, default=str),
    }
    return sorted((where, form) for where, text in haystacks.items() for form in forms if form in text)


# --- a CA and a server certificate, made here ----------------------------------------------------


def make_certificates(directory):
    """A CA and a server certificate for 127.0.0.1 and localhost; returns (ca, cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("stalwart.mail test CA"))
        .issuer_name(name("stalwart.mail test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def secret_sim():
    """A simulator that also accepts SECRET_TOKEN (all permissions) and READONLY_SECRET (read only)."""
    with Simulator(extra_args=("--token", f"{SECRET_TOKEN}=all", "--token", f"{READONLY_SECRET}=readonly")) as running:
        yield running


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_sim(certificates):
    cert, key = certificates[1], certificates[2]
    with Simulator(tls_cert=str(cert), tls_key=str(key), extra_args=("--token", f"{SECRET_TOKEN}=all")) as running:
        yield running


def result_of(outcome, task_name):
    """The task's module result, with ``failed`` set from the recorded status (the callback keeps
    the status beside the result, not in it)."""
    return dict(outcome.result(task_name), failed=outcome.status(task_name) == "failed")


def task(label, module_args, module=MODULE):
    return {"name": label, module: module_args, "ignore_errors": True}


def loud(tmp_path, tasks, **kwargs):
    """Run with -vvvv and --diff: the most output Ansible can give."""
    return run_tasks(tmp_path, tasks, verbosity=4, diff=True, **kwargs)


# --- secrets: forced failures --------------------------------------------------------------------

# What each forced failure must say (it failed for that reason, not for another).
FAILURE_MESSAGES = {
    "401": r"\b401\b|unauthori[sz]ed|authenticat",
    "403": r"\b403\b",
    "TLS": r"certificate",
    "timeout": r"timed? ?out",
    "server error": r"\b503\b",
    "gateway error": r"\b502\b",
    "server unavailable": r"serverUnavailable",
    "connection dropped": r"connection|closed|reset|aborted",
    "no permission": r"forbidden|permission",
    "refused by server": r"Invalid hostname or IP address",
}
# The simulator fault each failure needs (armed for the next requests, right before its task).
FAULTS = {
    "403": {"kind": "http403"},
    "timeout": {"kind": "delay", "seconds": 3.0},
    "server error": {"kind": "http503"},
    "gateway error": {"kind": "http502"},
    "server unavailable": {"kind": "server_unavailable"},
    "connection dropped": {"kind": "drop_before"},
}
EVERY_AUTH_FAILS = ("401", "403", "TLS", "timeout", "server error")
TOKEN_ALSO_FAILS = ("gateway error", "server unavailable", "connection dropped", "no permission",
                    "refused by server")


CANARY = "Can4ry-N0t-A-S3cr3t-Lm2sD7"
CANARY_TASK = {"name": "canary", "ansible.builtin.debug": {"msg": CANARY}}


def arm(sim, labels):
    """Queue, before the playbook, the fault each forced failure needs: each one waits for a
    request that names the task's strategy (its first read does), so that all of them can be queued
    at once; the refusals (which the collection cannot foresee) are the simulator's for those names."""
    sim.reset()
    for label, failure in labels.items():
        if failure in FAULTS:
            sim.fault(**FAULTS[failure], count=10, body_contains=f'"{strategy_name(label)}"')
    sim.refuse({strategy_name(label): None for label, failure in labels.items() if failure == "refused by server"})


def strategy_name(label):
    """The strategy a forced failure's task creates."""
    return "secret-" + re.sub(r"\W+", "-", label)


def credentials(auth, failure, files):
    """The credential options of a task: the wrong secret for a 401, the right one otherwise."""
    wrong = failure == "401"
    if auth == "token":
        if failure == "no permission":
            return {"token": READONLY_SECRET}
        return {"token": WRONG_TOKEN if wrong else SECRET_TOKEN}
    if auth == "password":
        return {"username": ADMIN_USER, "password": WRONG_PASSWORD if wrong else ADMIN_PASSWORD}
    if auth == "password_file":
        return {"username": ADMIN_USER, "password_file": files["wrong" if wrong else "right"]}
    # environment: STALWART_USER/STALWART_PASSWORD hold the right ones; a 401 needs another user
    return {"username": INTRUDER} if wrong else {}


def forced_failures(sim, tls_sim, auth, failures, files):
    """Per failure, the module task that meets it. Returns (tasks, labels)."""
    tasks, labels = [], {}
    for failure in failures:
        label = f"{auth}: {failure}"
        labels[label] = failure
        args = {"url": tls_sim.url if failure == "TLS" else sim.url, "retries": 0, "timeout": 1,
                **credentials(auth, failure, files),
                "name": strategy_name(label), "connect_timeout": "2m",
                "source_ips": [{"ip": "192.0.2.7", "ehlo_hostname": "mx7.example.org"}]}
        tasks.append(task(label, args))
    return tasks, labels


def check_failed_as_forced(outcome, labels):
    for label, failure in labels.items():
        result = result_of(outcome, label)
        assert result.get("failed") is True, (label, result)
        assert re.search(FAILURE_MESSAGES[failure], result.get("msg", ""), re.IGNORECASE), (label, result.get("msg"))


def test_no_secret_in_any_output_through_forced_failures(secret_sim, tls_sim, tmp_path):
    """Token, password and password_file in one playbook; the environment in a second one."""
    sim = secret_sim
    sim.reset()
    files = {"right": tmp_path / "password-right", "wrong": tmp_path / "password-wrong"}
    files["right"].write_text(ADMIN_PASSWORD + "\n")
    files["wrong"].write_text(WRONG_PASSWORD + "\n")
    files = {key: str(path) for key, path in files.items()}

    tasks, labels = forced_failures(sim, tls_sim, "token", EVERY_AUTH_FAILS + TOKEN_ALSO_FAILS, files)
    for auth in ("password", "password_file"):
        more_tasks, more_labels = forced_failures(sim, tls_sim, auth, EVERY_AUTH_FAILS, files)
        tasks += more_tasks
        labels.update(more_labels)
    tasks.append(task("info: 401", {"url": sim.url, "token": WRONG_TOKEN, "retries": 0}, module=INFO_MODULE))
    labels["info: 401"] = "401"
    arm(sim, labels)
    outcome = loud(tmp_path / "arguments", tasks + [CANARY_TASK])
    check_failed_as_forced(outcome, labels)
    assert [item["name"] for item in sim.objects()] == ["default"]  # nothing got through

    env_tasks, env_labels = forced_failures(sim, tls_sim, "environment", EVERY_AUTH_FAILS, files)
    arm(sim, env_labels)
    env_outcome = loud(tmp_path / "environment", env_tasks + [CANARY_TASK],
                       env={"STALWART_USER": ADMIN_USER, "STALWART_PASSWORD": ADMIN_PASSWORD})
    check_failed_as_forced(env_outcome, env_labels)

    assert len(labels) + len(env_labels) == 4 * len(EVERY_AUTH_FAILS) + len(TOKEN_ALSO_FAILS) + 1
    assert [item["name"] for item in sim.objects()] == ["default"]  # nothing got through
    secrets = [SECRET_TOKEN, WRONG_TOKEN, READONLY_SECRET, WRONG_PASSWORD, ADMIN_PASSWORD]
    basic = [(ADMIN_USER, ADMIN_PASSWORD), (INTRUDER, ADMIN_PASSWORD)]
    assert leaks(outcome, secrets, basic) == []
    assert leaks(env_outcome, secrets, basic) == []
    # the search does see what a task prints (in stdout and in its result)
    assert leaks(outcome, [CANARY]) == leaks(env_outcome, [CANARY]) == [("results", CANARY), ("stdout", CANARY)]


# --- secrets: successful runs, with the secret from a file, the environment, a variable ---------


def test_no_secret_in_output_of_successful_runs_with_diff_and_check(secret_sim, tmp_path):
    sim = secret_sim
    sim.reset()
    token_file = tmp_path / "token"
    token_file.write_text(SECRET_TOKEN + "\n")
    strategy = {"name": "visible", "description": "made with a secret", "ehlo_hostname": "mx.example.org",
                "source_ips": [{"ip": "192.0.2.9", "ehlo_hostname": "mx9.example.org"}], "connect_timeout": "2m"}
    tasks = [
        task("check with token_file", {"url": sim.url, "token_file": str(token_file), **strategy}),
        task("apply with token", {"url": sim.url, "token": SECRET_TOKEN, **strategy}),
        task("change with env token", {"url": sim.url, **strategy, "connect_timeout": "3m"}),
        task("batch with token_file", {"url": sim.url, "token_file": str(token_file),
                                       "strategies": [strategy, {"name": "second"}]}),
        task("info with env token", {"url": sim.url}, module=INFO_MODULE),
    ]
    outcome = loud(tmp_path, tasks, env={"STALWART_TOKEN": SECRET_TOKEN})
    for label in ("apply with token", "change with env token", "batch with token_file", "info with env token"):
        assert not result_of(outcome, label).get("failed"), (label, result_of(outcome, label).get("msg"))
    assert sorted(item["name"] for item in sim.objects()) == ["default", "second", "visible"]
    assert leaks(outcome, [SECRET_TOKEN]) == []


def test_no_secret_in_output_of_the_role_at_vvvv_with_diff(secret_sim, tmp_path):
    """The role hands the token to its module task and handler through module_defaults, from
    stalwart_token (one template for every connection option): a converge with its reload, at
    -vvvv with --diff, shows it nowhere."""
    sim = secret_sim
    sim.reset()
    play = [{"name": "role", "hosts": "localhost", "gather_facts": False,
             "roles": [{"role": "stalwart.mail.mta_connection_strategies"}],
             "vars": {"stalwart_url": sim.url, "stalwart_token": SECRET_TOKEN,
                      "stalwart_mta_connection_strategies": [{"name": "role-made", "connect_timeout": "2m"}]}}]
    outcome = run_playbook(tmp_path, play, verbosity=4, diff=True)
    outcome.assert_ok()
    assert "role-made" in [item["name"] for item in sim.objects()] and sim.stats()["reloads"] == 1
    assert leaks(outcome, [SECRET_TOKEN]) == []


# --- TLS -----------------------------------------------------------------------------------------


def test_untrusted_certificate_is_refused_by_default_with_a_clear_message(tls_sim, tmp_path):
    tls_sim.reset()
    outcome = inproc.run_tasks([task("default", {"url": tls_sim.url, "token": ADMIN_TOKEN, "name": "tls",
                                                 "retries": 0})])
    result = result_of(outcome, "default")
    assert result.get("failed") is True
    assert re.search(r"certificate", result["msg"], re.IGNORECASE), result["msg"]
    # the message tells both ways out
    assert "ca_path" in result["msg"], result["msg"]
    assert "validate_certs" in result["msg"], result["msg"]
    assert [item["name"] for item in tls_sim.objects()] == ["default"]


def test_ca_path_makes_tls_work(tls_sim, certificates, tmp_path):
    tls_sim.reset()
    ca_path = certificates[0]
    outcome = inproc.run_tasks([
        task("ca_path", {"url": tls_sim.url, "token": ADMIN_TOKEN, "ca_path": str(ca_path), "name": "via-ca-path"}),
        task("env", {"url": tls_sim.url, "token": ADMIN_TOKEN, "name": "via-env-ca-path"}),
    ], env={"STALWART_CA_PATH": str(ca_path)})
    for label in ("ca_path", "env"):
        assert not result_of(outcome, label).get("failed"), result_of(outcome, label).get("msg")
    assert sorted(item["name"] for item in tls_sim.objects()) == ["default", "via-ca-path", "via-env-ca-path"]


def test_a_certificate_for_another_name_is_not_blamed_on_the_ca(tls_sim, certificates, tmp_path):
    """The certificate names localhost and 127.0.0.1, and ca_path trusts its CA: reached as 127.1
    (the same address), the name does not match, and no CA bundle would help: the message says to
    use the name the certificate was issued for, not to set ca_path."""
    tls_sim.reset()
    url = tls_sim.url.replace("127.0.0.1", "127.1")
    outcome = inproc.run_tasks([task("other name", {"url": url, "token": ADMIN_TOKEN, "ca_path": str(certificates[0]),
                                                    "name": "tls", "retries": 0})])
    result = result_of(outcome, "other name")
    assert result.get("failed") is True and "127.1" in result["msg"], result["msg"]
    assert "host name the certificate was issued for" in result["msg"] and "set ca_path" not in result["msg"], result["msg"]


def test_validate_certs_false_makes_tls_work(tls_sim, tmp_path):
    tls_sim.reset()
    outcome = inproc.run_tasks([task("insecure", {"url": tls_sim.url, "token": ADMIN_TOKEN,
                                                  "validate_certs": False, "name": "insecure"})])
    assert not result_of(outcome, "insecure").get("failed"), result_of(outcome, "insecure").get("msg")
    assert sorted(item["name"] for item in tls_sim.objects()) == ["default", "insecure"]


def test_plain_http_to_a_non_loopback_host_warns_credentials_travel_in_clear(tmp_path):
    # fe80::1 without a zone: connect() fails with EINVAL in the kernel, no packet leaves; proxies
    # are off so that none is contacted instead (see the module docstring)
    outcome = inproc.run_tasks([task("clear", {"url": "http://[fe80::1]:1", "token": SECRET_TOKEN,
                                               "name": "clear", "retries": 0, "timeout": 1})],
                               env=NO_PROXY_ENV)
    result = result_of(outcome, "clear")
    assert result.get("failed") is True  # nothing listens there; only the warning matters
    warnings = " ".join(result.get("warnings", []))
    assert CLEAR_TEXT_WARNING.search(warnings), result.get("warnings")
    assert SECRET_TOKEN not in json.dumps(result)


def test_plain_http_to_loopback_does_not_warn(secret_sim, tmp_path):
    secret_sim.reset()
    url = secret_sim.url
    outcome = inproc.run_tasks([task("loopback", {"url": url, "token": ADMIN_TOKEN, "name": "quiet"})])
    result = result_of(outcome, "loopback")
    assert not result.get("failed"), result.get("msg")
    assert not any(CLEAR_TEXT_WARNING.search(warning) for warning in result.get("warnings", [])), result
