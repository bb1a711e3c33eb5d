# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The value options of one connection strategy: the one place their prose lives. The options
# themselves (names, types) are declared in plugins/module_utils/_objects.py
# (CONNECTION_STRATEGY); tests/unit/plugins/module_utils/test__objects.py holds this text to
# them. The items of the module's `strategies` option refer here ("As O(description)").

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  description:
    description:
      - 'Free-text description of the strategy: a string (a number is taken as its text; a list or a dictionary is
        refused).'
      - V("") clears it.
    type: raw
  ehlo_hostname:
    description:
      - 'Host name (or IP literal) to announce in EHLO for connections made with this strategy: a string.'
      - 'Compared as the server stores it: white space removed, lower-cased, internationalised names as A-labels (UTS
        46, so V(straße.example) is V(xn--strae-oqa.example), not V(strasse.example)).'
      - The top-level domain must be in the Public Suffix List (or be V(test), V(localhost), V(local), V(internal),
        V(lan), V(home), V(corp), V(intranet), V(private) or V(localdomain)), as the server requires.
      - A name that DNS cannot carry (a label with characters other than letters, digits, V(-) and V(_), starting or
        ending with V(-), or longer than 63 characters; a name longer than 253) is written as the server stores it,
        with a warning.
      - V("") clears it.
    type: raw
  source_ips:
    description:
      - Local IP addresses to send from, each with an optional EHLO host name.
      - 'The server picks one address at random per delivery, so the order carries no meaning: a reordered list is
        not a change. When a change is needed the list is written whole, in the order given.'
      - V([]) clears the list.
    type: list
    elements: dict
    suboptions:
      ip:
        description:
          - The local IPv4 or IPv6 address. V(0.0.0.0) is refused.
        type: str
        required: true
        aliases:
          - source_ip
      ehlo_hostname:
        description:
          - Host name to announce in EHLO when sending from this address.
          - 'Checked and compared like O(ehlo_hostname); V("") or no value: none.'
        type: str
  connect_timeout:
    description:
      - Time to wait for the TCP connection to be established.
      - An integer is milliseconds; a string is C(<n><unit>) with unit V(ms), V(s), V(m), V(h) or V(d), compounds
        allowed (V(1h30m)), case and spaces ignored. Must be greater than 0.
      - V(5m), V(300s), V(300000ms) and V(300000) are the same value and never cause a change.
    type: raw
  data_timeout:
    description:
      - Time to wait for the answer to the DATA command and the message transfer.
      - An integer is milliseconds; a string is C(<n><unit>) with unit V(ms), V(s), V(m), V(h) or V(d), compounds
        allowed (V(1h30m)), case and spaces ignored. Must be greater than 0.
      - V(5m), V(300s), V(300000ms) and V(300000) are the same value and never cause a change.
    type: raw
  ehlo_timeout:
    description:
      - Time to wait for the answer to the EHLO command.
      - An integer is milliseconds; a string is C(<n><unit>) with unit V(ms), V(s), V(m), V(h) or V(d), compounds
        allowed (V(1h30m)), case and spaces ignored. Must be greater than 0.
      - V(5m), V(300s), V(300000ms) and V(300000) are the same value and never cause a change.
    type: raw
  greeting_timeout:
    description:
      - Time to wait for the server's SMTP greeting.
      - An integer is milliseconds; a string is C(<n><unit>) with unit V(ms), V(s), V(m), V(h) or V(d), compounds
        allowed (V(1h30m)), case and spaces ignored. Must be greater than 0.
      - V(5m), V(300s), V(300000ms) and V(300000) are the same value and never cause a change.
    type: raw
  mail_from_timeout:
    description:
      - Time to wait for the answer to the MAIL FROM command.
      - An integer is milliseconds; a string is C(<n><unit>) with unit V(ms), V(s), V(m), V(h) or V(d), compounds
        allowed (V(1h30m)), case and spaces ignored. Must be greater than 0.
      - V(5m), V(300s), V(300000ms) and V(300000) are the same value and never cause a change.
    type: raw
  rcpt_to_timeout:
    description:
      - Time to wait for the answer to each RCPT TO command.
      - An integer is milliseconds; a string is C(<n><unit>) with unit V(ms), V(s), V(m), V(h) or V(d), compounds
        allowed (V(1h30m)), case and spaces ignored. Must be greater than 0.
      - V(5m), V(300s), V(300000ms) and V(300000) are the same value and never cause a change.
    type: raw
"""
