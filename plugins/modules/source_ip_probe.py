#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: source_ip_probe
short_description: Find out whether the mail host can bind the source IPs of Stalwart's connection strategies
version_added: 0.1.0
description:
  - Runs on the mail host itself (not on the controller) and tries, for each source IP, what the Stalwart
    server does before each delivery - a C(bind) of a TCP socket to the address, port 0 - then closes
    the socket. No packet is sent.
  - An address that cannot be bound (C(EADDRNOTAVAIL), errno 99 on Linux - the address is on no
    interface, for example a public IP behind 1:1 NAT, or a host address seen from inside a
    container's network namespace) makes every delivery through it fail.
  - An IPv4-mapped IPv6 address (C(::ffff:192.0.2.20)) is reported as not bindable (C(EAFNOSUPPORT),
    errno 97 on Linux), though the bind itself succeeds - the server takes it as an IPv6 source, and no
    connection to an IPv6 destination can leave from it. Write the IPv4 address instead.
  - Also returns the host's own addresses, for the C(implicit_family) check of
    M(stalwart.mail.deliverability_check), which turns this module's result (O(stalwart.mail.deliverability_check#module:probe))
    into C(bind) findings.
  - Run it in the network namespace the server runs in (the server's container, when it runs in one)
    - listing the host's addresses is not enough, since an address may be listed and not bindable
    there, or bindable and not listed (C(ip_nonlocal_bind), AnyIP routes).
  - Needs Python 3.6 or later on the mail host (its standard library only). The module runs there, with the
    host's interpreter; ansible-core 2.16 may find Python 2.7 (EL7) or 3.6 (EL8's platform-python). On Python 2
    it fails with a message that says so.
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.attributes
  - stalwart.mail.attributes.INFO_MODULE
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  ips:
    description:
      - Source IP addresses to try, each a string, or a dict with C(ip) (or C(source_ip)) as in the
        C(source_ips) of a strategy.
    type: list
    elements: raw
    default: []
    aliases: [source_ips]
  strategies:
    description:
      - Connection strategies in the input form of M(stalwart.mail.mta_connection_strategy); the
        source IPs of those not C(state=absent) are tried, with those of O(ips).
      - Only C(source_ips[].ip) (or its alias C(source_ip)) and C(state) are read.
    type: list
    elements: dict
    default: []
notes:
  - The host's addresses come from the kernel (netlink on Linux, else the C(ip) command); where neither
    is available they are empty, with a warning.
seealso:
  - module: stalwart.mail.deliverability_check
"""

EXAMPLES = r"""
- name: Can this host send from its new addresses?
  stalwart.mail.source_ip_probe:
    ips:
      - 192.0.2.20
      - 2001:db8::20
  register: probe

- name: Say which addresses cannot be bound
  ansible.builtin.debug:
    msg: "{{ probe.ips | rejectattr('bindable') | map(attribute='ip') | list }}"

- name: Probe the source IPs of the strategies
  stalwart.mail.source_ip_probe:
    strategies:
      - name: warmup
        source_ips:
          - ip: 127.0.0.1
  register: warmup_probe
"""

RETURN = r"""
ips:
  description: Each address tried, in the order given (each once, in canonical form).
  returned: always
  type: list
  elements: dict
  sample:
    - {ip: 127.0.0.1, family: ipv4, bindable: true, errno: null, error: null}
    - {ip: 192.0.2.77, family: ipv4, bindable: false, errno: 99, error: "EADDRNOTAVAIL: Cannot assign requested address"}
  contains:
    ip:
      description: The address.
      type: str
    family:
      description: V(ipv4) or V(ipv6).
      type: str
    bindable:
      description: Whether the bind to the address (port 0) succeeded (false for an IPv4-mapped IPv6 address, which no IPv6 connection can leave from).
      type: bool
    errno:
      description: The error number of a failed bind (99, C(EADDRNOTAVAIL), on Linux for an address on no interface), else V(null).
      type: int
    error:
      description: The error's symbol and text, else V(null).
      type: str
bindable:
  description: The addresses that could be bound.
  returned: always
  type: list
  elements: str
  sample: [127.0.0.1]
global_addresses:
  description:
    - The host's addresses of global scope (what the kernel may pick for a connection made without a
      source address), loopback, link-local and IPv6 unique-local excluded; a private IPv4 address counts.
  returned: always
  type: list
  elements: str
  sample: [198.51.100.7, 2001:db8::7]
addresses:
  description: Every address of the host but loopback, with its interface, scope and IPv6 flags.
  returned: always
  type: list
  elements: dict
  sample:
    - {address: 2001:db8::7, family: ipv6, interface: eth0, scope: global, temporary: false, deprecated: false}
hostname:
  description: The host's name, as it calls itself.
  returned: always
  type: str
  sample: mx1
"""

import errno
import os
import platform
import socket
import struct
import sys

try:
    import ipaddress
except ImportError:  # Python 2 without the backport: the module fails in words (main)
    ipaddress = None

from ansible.module_utils.basic import AnsibleModule

# rtnetlink (linux/rtnetlink.h, linux/if_addr.h)
# (one name per line: ansible-doc's parser warns about tuple assignments in a module)
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_FLAGS = 8
_IFA_F_TEMPORARY = 0x01
_IFA_F_DEPRECATED = 0x20
_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host"}
_FAMILIES = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}


def canonical(value):
    """The address as the server and stalwart.mail.deliverability_check write it: taken exactly as
    given (no surrounding spaces, no IPv6 zone, no prefix length: the server refuses them), an
    IPv4-mapped IPv6 address as ::ffff:a.b.c.d. Raises ValueError."""
    if value != value.strip() or "%" in value or "/" in value:
        raise ValueError(value)
    address = ipaddress.ip_address(value)
    if address.version == 6 and address.ipv4_mapped is not None:
        return "::ffff:{0}".format(address.ipv4_mapped)
    return address.compressed


def try_bind(ip):
    """``bind((ip, 0))`` as the server does before it connects; the socket is closed at once."""
    address = ipaddress.ip_address(ip)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    result = {"ip": ip, "family": _FAMILIES[family], "bindable": True, "errno": None, "error": None}
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((ip, 0))
        if address.version == 6 and address.ipv4_mapped is not None:
            # the server takes it as an IPv6 source: the bind succeeds, and every connection from
            # it to an IPv6 destination fails (Linux: EAFNOSUPPORT), as the server's would
            result.update(bindable=False, errno=errno.EAFNOSUPPORT,
                          error="EAFNOSUPPORT: an IPv4-mapped IPv6 address; the server uses it for IPv6 deliveries, "
                                "and no IPv6 connection can leave from it (write {0})".format(address.ipv4_mapped))
    except OSError as error:
        number = error.errno
        symbol = errno.errorcode.get(number, "") if number is not None else ""
        text = error.strerror or str(error)
        result.update(bindable=False, errno=number, error="{0}: {1}".format(symbol, text) if symbol else text)
    finally:
        sock.close()
    return result


def _attributes(data, start, end):
    """rtattr entries of one message: type → payload."""
    found = {}
    while start + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, start)
        if length < 4:
            break
        found[kind] = data[start + 4:start + length]
        start += (length + 3) & ~3
    return found


def netlink_addresses():
    """Every address of the host, from the kernel (``RTM_GETADDR``), as dicts."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # pylint: disable=no-member
    try:
        sock.bind((0, 0))
        sock.settimeout(5)
        payload = struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0)
        sock.send(struct.pack("=IHHII", 16 + len(payload), _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0) + payload)
        found = []
        while True:
            data = sock.recv(65536)
            if not data:
                return found
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if length < 16 or kind == _NLMSG_DONE:
                    return found
                if kind == _NLMSG_ERROR:
                    raise OSError("netlink answered an error")
                if kind == _RTM_NEWADDR:
                    family, _prefix, flags, scope, index = struct.unpack_from("=BBBBI", data, offset + 16)
                    attributes = _attributes(data, offset + 24, offset + length)
                    raw = attributes.get(_IFA_LOCAL) or attributes.get(_IFA_ADDRESS)
                    if family in _FAMILIES and raw:
                        if _IFA_FLAGS in attributes and len(attributes[_IFA_FLAGS]) >= 4:
                            flags = struct.unpack("=I", attributes[_IFA_FLAGS][:4])[0]
                        try:
                            interface = socket.if_indextoname(index)
                        except OSError:
                            interface = str(index)
                        found.append({"address": socket.inet_ntop(family, raw), "family": _FAMILIES[family],
                                      "interface": interface, "scope": _SCOPES.get(scope, str(scope)),
                                      "temporary": bool(flags & _IFA_F_TEMPORARY),
                                      "deprecated": bool(flags & _IFA_F_DEPRECATED)})
                offset += (length + 3) & ~3
    finally:
        sock.close()


def ip_command_addresses(module):
    """The same from ``ip -o addr show`` where netlink is not available."""
    command = module.get_bin_path("ip")
    if not command:
        return None
    rc, out, _err = module.run_command([command, "-o", "addr", "show"])
    if rc != 0:
        return None
    found = []
    for line in out.splitlines():
        words = line.split()
        if len(words) < 4 or words[2] not in ("inet", "inet6"):
            continue
        scope = words[words.index("scope") + 1] if "scope" in words else "global"
        found.append({"address": words[3].split("/")[0], "family": "ipv4" if words[2] == "inet" else "ipv6",
                      "interface": words[1].rstrip(":"), "scope": scope, "temporary": "temporary" in words,
                      "deprecated": "deprecated" in words})
    return found


def reaches_internet(entry):
    """Global scope, not loopback, link-local or IPv6 unique-local (fc00::/7)."""
    address = ipaddress.ip_address(entry["address"].split("%")[0])
    if entry["scope"] != "global" or address.is_loopback or address.is_link_local:
        return False
    return not (address.version == 6 and address in ipaddress.ip_network("fc00::/7"))


def entry_ip(module, where, entry):
    """The address of one ``source_ips`` entry ({ip, ehlo_hostname}, ``source_ip`` an alias of
    ``ip``); fails naming the entry when it has none, or two that differ."""
    if not isinstance(entry, dict):
        module.fail_json(msg="{0}: expected a dict {{ip, ehlo_hostname}}, got {1!r}".format(where, entry))
    given = [entry[key] for key in ("ip", "source_ip") if entry.get(key) is not None]
    if not given:
        module.fail_json(msg="{0}: the entry has no ip; expected a dict {{ip, ehlo_hostname}} (source_ip is an alias of "
                             "ip), got {1!r}".format(where, entry))
    if len(given) == 2 and str(given[0]) != str(given[1]):
        module.fail_json(msg="{0}: ip and its alias source_ip are both set, to different values ({1!r}, {2!r}); "
                             "give one".format(where, given[0], given[1]))
    return given[0]


def source_ips(module):
    """The addresses to try, canonical, each once, in order; bad input fails before any bind."""
    wanted = []
    candidates = []
    for index, value in enumerate(module.params["ips"] or ()):
        if isinstance(value, dict):
            value = value.get("ip", value.get("source_ip"))
        candidates.append(("ips[{0}]".format(index), value))
    for index, strategy in enumerate(module.params["strategies"] or ()):
        if not isinstance(strategy, dict):
            continue
        label = "strategies[{0}] ({1})".format(index, strategy.get("name"))
        state = strategy.get("state", "present")
        if state not in ("present", "absent", None):
            module.fail_json(msg="{0}: state: expected present or absent, got {1!r}".format(label, state))
        if state == "absent":
            continue
        entries = strategy.get("source_ips")
        if entries is None:
            continue  # left out (or null): the server's own, which the list does not set
        if not isinstance(entries, list):
            module.fail_json(msg="{0}: source_ips: expected a list of dicts with ip, got {1!r}".format(label, entries))
        for position, entry in enumerate(entries):
            where = "{0}.source_ips[{1}]".format(label, position)
            candidates.append((where + ".ip", entry_ip(module, where, entry)))
    for where, value in candidates:
        try:
            ip = canonical(str(value) if value is not None else "")
        except ValueError:
            module.fail_json(msg="{0}: {1!r} is not an IP address; expected an IPv4 or IPv6 address such as 192.0.2.10 "
                                 "or 2001:db8::10".format(where, value))
        if ip not in wanted:
            wanted.append(ip)
    return wanted


def main():
    module = AnsibleModule(
        argument_spec={"ips": {"type": "list", "elements": "raw", "default": [], "aliases": ["source_ips"]},
                       "strategies": {"type": "list", "elements": "dict", "default": []}},
        supports_check_mode=True,
    )
    if sys.version_info < (3, 6):  # Python 2 (the ipaddress backport refuses its str as bytes)
        module.fail_json(msg="stalwart.mail.source_ip_probe needs Python 3.6 or later on the mail host; {0} is "
                             "Python {1}: set ansible_python_interpreter for the host to a Python 3".format(
                                 sys.executable, platform.python_version()))
    results = [try_bind(ip) for ip in source_ips(module)]
    try:
        addresses = netlink_addresses()
    except (AttributeError, OSError, struct.error):
        addresses = ip_command_addresses(module)
    if addresses is None:
        module.warn("the host's addresses could not be read (no netlink, no ip command): global_addresses is empty")
        addresses = []
    addresses = [entry for entry in addresses if not ipaddress.ip_address(entry["address"].split("%")[0]).is_loopback]
    module.exit_json(changed=False, ips=results, bindable=[entry["ip"] for entry in results if entry["bindable"]],
                     global_addresses=[entry["address"] for entry in addresses if reaches_internet(entry)],
                     addresses=addresses, hostname=socket.gethostname() or os.uname()[1])


if __name__ == "__main__":
    main()
