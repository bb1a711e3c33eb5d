"""Agreement at the boundary: for a few hundred values per option, valid and invalid, the collection
and the server must agree.

- Everything the collection accepts, the server accepts and stores exactly as the collection
  predicted (the module runs with every accepted value, each in a strategy of its own, in one
  batch; the server is then read back raw and each stored value compared with the prediction).
- Everything the server refuses, given as it is over JMAP, the collection refuses before sending
  anything. Not part of the check: what only the collection's own syntax gives meaning to
  (durations written as ``5m``; ``""`` as "clear this option"), since the server never sees those
  as they are written.

The collection may refuse more than the server (labels with ``!`` or a leading ``-``, names DNS
could not carry): those are listed by ``test_what_only_the_collection_refuses`` and in
docs/compatibility.md, and are not disagreements. Each disagreement found is a defect: the test
prints them all.
"""

from __future__ import annotations

import json
import random
import string

from ansible_collections.stalwart.mail.plugins.module_utils import _objects, _planner, _values
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError
from tests.real.conftest import PREFIX
from tests.support.ansible import run_tasks

MODULE = "stalwart.mail.mta_connection_strategy"

HOSTNAMES = [
    # plain, case, white space anywhere (the server removes Unicode White_Space)
    "mx.example.com", "MX.EXAMPLE.COM", "Mx.Example.Com", " mx.example.com", "mx.example.com ", "\tmx.example.com\n",
    "mx .example.com", "m x.example.com", "mx.\u3000example.com", "mx.example.com\u00a0", "mx.exa\u2009mple.com",
    "mx.example.com\u200b", "mx.example\u200b.com",
    # dots
    "mx.example.com.", "mx..example.com", ".mx.example.com", "mxexamplecom", "localhost", "mx", "a.b", ".",
    "mx.-.com", "mx.example..", "mx.example.c", "a.b.c.d.e.f.g.example.com",
    # top-level domains: the Public Suffix List, the reserved ones, unknown ones
    "mx.example.org", "mx.example.net", "mx.example.io", "mx.example.co.uk", "mx.example.zip", "mx.example.dev",
    "mx.example.test", "mx.example.lan", "mx.example.local", "mx.example.internal", "mx.example.home",
    "mx.example.corp", "mx.example.intranet", "mx.example.private", "mx.example.localdomain",
    "mx.localhost", "mx.test", "mx.example.invalid", "mx.example.example", "mx.example.notatld",
    "mx.example.123", "mx.example.c0m", "mx.example.xn--p1ai", "mx.example.xn--zz", "mx.example.рф",
    "mx.example.中国", "mx.example.公司",
    # characters in ASCII labels
    "mx_1.example.com", "_dmarc.example.com", "-mx.example.com", "mx-.example.com", "m--x.example.com",
    "xn--mx.example.com", "mx!.example.com", "m!x.example.com", "m*x.example.com", "*.example.com",
    "m@x.example.com", "m/x.example.com", "m:x.example.com", "m%x.example.com", "m#x.example.com",
    "mx\\.example.com", "m'x.example.com", 'm"x.example.com', "m,x.example.com", "m+x.example.com",
    "m=x.example.com", "m~x.example.com", "m(x).example.com", "m[x].example.com", "m{x}.example.com",
    "m<x>.example.com", "m|x.example.com", "m^x.example.com", "m`x.example.com", "m$x.example.com",
    "m;x.example.com", "m?x.example.com", "m&x.example.com", "mx\x00.example.com", "mx\x7f.example.com",
    "mx\x01.example.com",
    # lengths
    "a" * 63 + ".example.com", "a" * 64 + ".example.com", ("a" * 63 + ".") * 3 + "example.com",
    ("a" * 63 + ".") * 4 + "com", "a." * 126 + "com", "a." * 127 + "com",
    # IDNs: UTS 46 non-transitional
    "straße.example.com", "STRASSE.example.com", "STRAẞE.example.com", "ς.example.com", "Σ.example.com",
    "ΟΔΟΣ.example.com", "οδος.example.com", "münchen.de", "MÜNCHEN.DE", "bücher.example.org",
    "xn--bcher-kva.example.org", "xn--strae-oqa.example.com", "пример.example.com", "例え.example.com",
    "مثال.example.com", "דוגמה.example.com", "ไทย.example.com", "한국.example.com", "e\u0301.example.com",
    "\u00e9.example.com", "i̇.example.com", "İ.example.com", "ǅ.example.com", "ﬁ.example.com",
    "ｍｘ.example.com", "mx．example.com", "mx。example.com", "①.example.com", "☃.example.com",
    "😀.example.com", "क्\u200dष.example.com", "क्\u200cष.example.com", "a\u200db.example.com",
    "a\u200cb.example.com", "نامه\u200cای.example.com", "\u200d.example.com", "a\u00adb.example.com",
    "a\u034fb.example.com", "\u0301a.example.com", "a\u0301.example.com", "ab\u0661.example.com",
    "\u0661\u0662.example.com", "a\u0627.example.com", "1\u05d0.example.com", "\u05d0\u05d1.example.com",
    "-ü.example.com", "ü-.example.com", "ü--a.example.com", "xn--.example.com", "xn--ls8h.example.com",
    "Ⅻ.example.com", "ß.de", "ẞ.de", "ΣΑΣ.com", "ǈ.com", "k.com", "K.com", "\u212a.com",
    # IP literals: taken as they are, never sanitised
    "192.0.2.1", "192.0.2.01", "192.0.2.256", "192.0.2", "1.2.3.4.5", " 192.0.2.1", "192.0.2.1 ", "2001:db8::1",
    "2001:DB8::1", "2001:db8:0:0:0:0:0:1", "::1", "::", "::ffff:192.0.2.1", "::FFFF:C000:0201", "fe80::1%eth0",
    "[2001:db8::1]", "2001:db8::1/64", "0.0.0.0", "255.255.255.255", "0x7f.0.0.1", "127.1", "1::2::3",
    "::ffff:1.2.3.4.5", "64:ff9b::192.0.2.1", "2001:db8::192.0.2.1",
    # empty and blank
    "", " ", "\t", "\u3000",
]

IPS = [
    "192.0.2.1", "198.51.100.254", "203.0.113.7", "10.0.0.1", "127.0.0.1", "255.255.255.255", "0.0.0.0",
    "0.0.0.1", "192.0.2.01", "192.0.2.001", "01.2.3.4", "192.0.2", "1.2.3.4.5", "192.0.2.256", "192.0.2.-1",
    "0x7f.0.0.1", "127.1", "1", "", " ", " 192.0.2.1", "192.0.2.1 ", "\t192.0.2.1", "192.0.2.1\n",
    "192.0.2.0/24", "192.0.2.1:25", "::", "::1", "::0", "0:0:0:0:0:0:0:0", "2001:db8::1", "2001:DB8::1",
    "2001:db8:0:0:0:0:0:1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::", "2001:db8:0::1",
    "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6:7", "2001:db8::1::2", ":::", "1::", "::ffff:192.0.2.1",
    "::FFFF:192.0.2.1", "::ffff:c000:201", "::ffff:0:192.0.2.1", "::192.0.2.1", "64:ff9b::192.0.2.1",
    "2001:db8::192.0.2.1", "fe80::1", "fe80::1%eth0", "fe80::1%1", "[2001:db8::1]", "2001:db8::1/64",
    "ff02::1", "2001:db8::g", "2001:db8:::1", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6::8",
    "mx.example.com", "localhost", "192.0.2.1.", "192.0.2.1\x00", "１９２.0.2.1", "192.0.2.1/32",
]

DURATIONS = [1, 2, 999, 1000, 60_000, 300_000, 86_400_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63 - 1,
             2 ** 63, 2 ** 64 - 1, 2 ** 64, 0, -1, -300_000, 1.5, 300000.0, 0.0, True, False,
             # the collection's own syntax (not given to the server as they are)
             "5m", "1ms", "90s", "1h30m", "2d", "0m", "0", "1", "-5m", "1.5s", "5 m", "5M", "5x", "", "m"]


def incompressible(length, seed=7):
    """Letters the server's LZ4 cannot shrink: stored at their full size."""
    generator = random.Random(seed)
    return "".join(generator.choice(string.ascii_letters) for _position in range(length))


DESCRIPTIONS = ["x", "Bulk mail via dedicated IPs", " leading", "trailing ", " ", "\t", "\n", "a\nb", "a\tb",
                "\x00", "a\x00b", "\x01", "\x1b[31mred", "\x7f", "\u0085", "\u2028", "\ufeff", "\u200b",
                "ß", "😀", "日本語", "עברית", "'quoted'", '"double"', "back\\slash", "{ braces }", "%s",
                "<b>html</b>", "d" * 1_000, "d" * 10_000, "d" * 100_000,
                # around the server's limit of 200,000 bytes for a stored object
                "d" * 199_900, "d" * 199_950, "d" * 199_970, "d" * 199_990, "d" * 200_000, "d" * 250_000,
                "ä" * 99_990, "ä" * 100_000, incompressible(199_900), incompressible(199_990),
                incompressible(99_960).replace("a", "ä"), 12345, 1.5, ""]

NAMES = ["plain", "with space", " leading", "trailing ", "quote'", 'double"', "back\\slash", "slash/name",
         "dot.name", "#hash", "@at", "uni-ß", "日本", "😀", "tab\tname", "new\nline", "nul\x00name", "ctl\x01",
         "n" * 1_000, "n" * 10_000, "UPPER", "upper", "", " ", 2024, 1.5, True]


def collection_verdict(option, value, name="x"):
    """(accepted, the wire value the collection would send) from the collection's own code, the
    code the module runs: the input checks, then the plan of a create (which refuses a strategy
    too large to store); ``name`` is the strategy's (for ``name`` itself, ``value``)."""
    item = {"name": name, option: value} if option != "name" else {"name": value}
    if option == "source_ip":
        item = {"name": name, "source_ips": [{"ip": value}]}
    try:
        normalised = _objects.normalise_item(STRATEGY, item, position=0)
        _planner.plan(STRATEGY, {}, [normalised])
    except InputError:
        return False, None
    if option == "name":
        return True, normalised["name"]
    if option == "source_ip":
        return True, normalised["values"]["source_ips"][0]["ip"]
    return True, STRATEGY.to_wire(normalised["values"])[STRATEGY.field_by_name[option].wire]


def wire_name(option):
    return {"source_ip": "sourceIps", "name": "name"}.get(option) or STRATEGY.field_by_name[option].wire


def raw_body(option, value, name):
    if option == "name":
        return {"name": value}
    if option == "source_ip":
        return {"name": name, "sourceIps": {"0": {"sourceIp": value}}}
    return {"name": name, wire_name(option): value}


def raw_domain(option, value):
    """Whether ``value`` means the same to the server given as it is (see the module docstring)."""
    if option in ("description", "ehlo_hostname") and value == "":
        return False  # the collection's "clear": sent as null
    if STRATEGY.field_by_name.get(option) is not None and STRATEGY.field_by_name[option].kind is _values.DURATION:
        return not isinstance(value, str)
    if option == "name":
        return isinstance(value, str)
    return isinstance(value, str)


CASES = [("ehlo_hostname", HOSTNAMES), ("source_ip", IPS), ("connect_timeout", DURATIONS),
         ("description", DESCRIPTIONS), ("name", NAMES)]


def raw_verdicts(backend, option, values):
    """Per value: whether the server takes it as it is (one create each, in one /set), and the
    stored wire value where it did; the raw objects are removed again."""
    creates = {f"v{index}": raw_body(option, value, f"{PREFIX}raw-{option}-{index}")
               for index, value in enumerate(values) if raw_domain(option, value)}
    answer = backend.call("x:MtaConnectionStrategy/set", {"create": creates}) if creates else {}
    created = answer.get("created") or {}
    verdicts = {}
    stored = {item["id"]: item for item in backend.strategies().values()} if created else {}
    for key in creates:
        index = int(key[1:])
        if key in created:
            item = stored.get(created[key]["id"], {})
            verdicts[index] = (True, item.get(wire_name(option)))
        else:
            verdicts[index] = (False, (answer.get("notCreated") or {}).get(key))
    if created:
        backend.call("x:MtaConnectionStrategy/set", {"destroy": [entry["id"] for entry in created.values()]})
    return verdicts


def show(value):
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:80] + f"...({len(text)} characters)"


def test_the_collection_and_the_server_agree_on_every_value(backend, tmp_path):
    disagreements, accepted_items, predictions = [], [], {}
    for option, values in CASES:
        raw = raw_verdicts(backend, option, values)
        for index, value in enumerate(values):
            taken, predicted = collection_verdict(option, value, f"{PREFIX}raw-{option}-{index}")
            server_took, server_stored = raw.get(index, (None, None))
            if server_took is False and taken:
                disagreements.append(f"{option} {show(value)}: the server refuses it ({show(server_stored)}), "
                                     f"the collection would send {show(predicted)}")
            if taken and option != "name":
                # the module's run names it alike: same length, so the same stored size
                taken = collection_verdict(option, value, f"{PREFIX}{option}-{index}")[0]
            if taken:
                name = f"{PREFIX}{option}-{index}" if option != "name" else f"{PREFIX}{predicted}"
                item = {"name": name} if option == "name" else {"name": name, option: value}
                if option == "source_ip":
                    item = {"name": name, "source_ips": [{"ip": value}]}
                accepted_items.append(item)
                predictions[name] = (option, value, name if option == "name" else predicted)
    outcome = run_tasks(tmp_path, [{"name": "agree", MODULE: {**backend.connection(), "strategies": accepted_items},
                                    "ignore_errors": True}])
    result = outcome.result("agree")
    for failure in result.get("failed_strategies") or ():
        option, value, predicted = predictions.get(failure["strategy"], ("?", None, None))
        disagreements.append(f"{option} {show(value)}: the collection took it (sending {show(predicted)}), the "
                             f"server refused it: {failure['error_type']} {failure.get('description')}")
    if result.get("failed") and not result.get("failed_strategies"):
        disagreements.append(f"the module run failed: {result.get('msg', '')[:2000]}")
    stored = backend.strategies()
    for name, (option, value, predicted) in predictions.items():
        item = stored.get(name)
        if item is None:
            continue  # reported above as a refusal
        actual = item[wire_name(option)]
        if option == "source_ip":
            actual = actual["0"]["sourceIp"]
        if actual != predicted:
            disagreements.append(f"{option} {show(value)}: predicted {show(predicted)}, the server stored {show(actual)}")
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(disagreements)
    assert len(predictions) > 200


def test_what_only_the_collection_refuses(backend):
    """Values the server takes as they are and the collection refuses: allowed (the collection may
    be stricter), listed so that docs/compatibility.md can say which and why."""
    stricter = []
    for option, values in CASES:
        raw = raw_verdicts(backend, option, values)
        for index, value in enumerate(values):
            if raw.get(index, (None,))[0] and not collection_verdict(option, value, f"{PREFIX}raw-{option}-{index}")[0]:
                stricter.append(f"{option} {show(value)} -> server stores {show(raw[index][1])}")
    print("\n".join(["stricter than the server:"] + stricter))
    # the deliberate ones: IDNs that IDNA 2008 refuses where UTS 46 lets them through (names that DNS
    # cannot carry the collection writes as the server stores them, with a warning), and descriptions past the
    # server's 200,000-byte object limit that it takes only because they compress well
    assert all(option in ("ehlo_hostname", "description") for line in stricter
               for option in [line.split(" ", 1)[0]]), stricter
