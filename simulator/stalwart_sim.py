# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Stalwart JMAP management API simulator for ``x:MtaConnectionStrategy`` (standard library only).

It follows Stalwart's API as ``docs/stalwart-api.md`` describes it, in two dialects:

- ``server``: the current Stalwart server. ``GET /jmap/session``, ``POST /jmap/``, durations as
  integer milliseconds both ways.
- ``docs``: what the published reference page describes. No session resource, ``POST /api``,
  durations shown as strings such as ``"5m"``.

Run it with ``python simulator/stalwart_sim.py --port 0``; it prints one line
``stalwart-sim listening on http://127.0.0.1:PORT dialect=server`` and serves until SIGTERM/SIGINT.
Tests drive it through the ``/_sim/`` control surface (stats, reset, faults); see
``docs/simulator.md``. Names in brackets in comments, such as [Authentication], are sections of
``docs/stalwart-api.md``.

Where the notes it was first written from and the real server (Stalwart 0.16.19) disagreed, the
simulator follows the server;
``tests/simulator/test_differential.py`` sends both the same requests and compares the answers.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import unicodedata
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# --------------------------------------------------------------------------------------------
# Constants of the protocol
# --------------------------------------------------------------------------------------------

OBJECT = "MtaConnectionStrategy"
GET, SET, QUERY = (f"x:{OBJECT}/get", f"x:{OBJECT}/set", f"x:{OBJECT}/query")
OUTBOUND_GET, OUTBOUND_SET = "x:MtaOutboundStrategy/get", "x:MtaOutboundStrategy/set"
ACTION_GET, ACTION_SET, ACTION_QUERY = "x:Action/get", "x:Action/set", "x:Action/query"
ECHO = "Core/echo"
SINGLETON_ID = "singleton"

CORE = "urn:ietf:params:jmap:core"
STALWART = "urn:stalwart:jmap"
# Every entry of ``using`` must be one of these, otherwise the whole request is ``notRequest``
# ([Requests and answers]: capability parsing happens inside JSON deserialization).
KNOWN_CAPABILITIES = frozenset({
    CORE, STALWART,
    "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission",
    "urn:ietf:params:jmap:vacationresponse", "urn:ietf:params:jmap:contacts",
    "urn:ietf:params:jmap:calendars", "urn:ietf:params:jmap:websocket",
    "urn:ietf:params:jmap:sieve", "urn:ietf:params:jmap:blob", "urn:ietf:params:jmap:quota",
    "urn:ietf:params:jmap:principals", "urn:ietf:params:jmap:principals:owner",
    "urn:ietf:params:jmap:filenode",
})

# queryMaxResults is the server's cap on a /query page (x:Jmap; the session does not show it): a
# page asked for more holds this many and echoes it as ``limit``
# maxConcurrentRequests is the most requests an account without the permission unlimitedRequests
# may have in flight at once
DEFAULT_LIMITS = {"maxObjectsInGet": 500, "maxObjectsInSet": 500, "maxCallsInRequest": 16,
                  "maxSizeRequest": 10_000_000, "queryMaxResults": 5000, "maxConcurrentRequests": 4}
MAX_OBJECT_SIZE = 200_000

DURATION_PROPERTIES = ("connectTimeout", "dataTimeout", "ehloTimeout", "greetingTimeout",
                       "mailFromTimeout", "rcptToTimeout")
# /get output key order ([MtaConnectionStrategy]): ``id`` comes last.
PROPERTY_ORDER = ("name", "description", "ehloHostname", "sourceIps") + DURATION_PROPERTIES
DEFAULT_DURATIONS = {"connectTimeout": 300_000, "dataTimeout": 600_000, "ehloTimeout": 300_000,
                     "greetingTimeout": 300_000, "mailFromTimeout": 300_000, "rcptToTimeout": 300_000}

# Every property name of the server's registry (the ``Property`` enum of crates/registry).
# [ASSUMPTION] The list was read from the Stalwart source of 0.16.19's time (just after the
# v0.16.18 tag), not from the 0.16.19 binary itself. A key that is one of them but not a property of the object
# gives "Invalid property" with its own name as path, while a name unknown to the whole registry fails
# earlier, as "Invalid key for object" with the object's path ("" on create, [Errors and permissions]); the same split
# decides a query filter's error text and which names of a /get ``properties`` list count.
REGISTRY_PROPERTIES = frozenset((
    "@type abuseBanPeriod abuseBanRate accessKey accessKeyId accessToken accessTokenExpiry accessTokens "
    "accountDomainId accountId accountIdentifier accountKey accountName accountSwitchKey accountType accountUri "
    "accounts acmeProviderId addAuthResultsHeader addDateHeader addDeliveredToHeader addMessageIdHeader "
    "addReceivedHeader addReceivedSpfHeader addReturnPathHeader additionalInformation address addresses "
    "aggregateContactInfo aggregateDkimSignDomain aggregateFromAddress aggregateFromName aggregateMaxReportSize "
    "aggregateOrgName aggregateSendFrequency aggregateSubject alarmId algorithms aliases allowCount "
    "allowDirectoryQueries allowExternalRcpts allowInvalidCerts allowPlainTextAuth allowRelaying "
    "allowSpamTraining allowedEndpoints allowedIps allowedNotifyUris alpha anonymousClientRegistration ansi "
    "apiKey apiUser applicationKey applicationSecret arcResult arcVerify archiveDeletedAccountsFor "
    "archiveDeletedItemsFor archivedAt archivedItemType archivedUntil arrivalDate asnUrls attemptNumber "
    "attempts attrClass attrDescription attrEmail attrEmailAlias attrMemberOf attrSecret attrSecretChanged auid "
    "auth authBanPeriod authBanRate authCodeExpiry authCodeMaxAttempts authFailure authId authSecret authToken "
    "authUsername authenticatedAs authenticationResults autoAddInvitations autoUpdateFrequency baseDn baseUrl "
    "bearerToken beta bind bindAuthentication bindDn bindSecret blobCleanupSchedule blobId blobSize blobStore "
    "blockCount body brokers bucket bufferSize buffered cacheSize canonicalization capacityClient "
    "capacityReadBuffer capacitySubscription catchAllAddress categories certificate certificateManagement "
    "challengeType changesMaxResults chunking claimGroups claimName claimUsername cleartext clientId clientIp "
    "clientSecret clientToken clusterFile columnClass columnDescription columnEmail columnSecret comment "
    "compartmentOcid compressionAlgorithm concurrency condition confidence config configName connectTimeout "
    "connection consumerKey contact contactInfo contacts container content contentTypes contents context count "
    "create createdAt createdBy credentialId credentials currentSecret customEndpoint customRegion customRule "
    "customerNumber dane dataCleanupSchedule dataStore dataTimeout database datacenterId dateRangeBegin "
    "dateRangeEnd dateRangeStart day deadPropertyMaxSize defaultAdminRoleIds defaultCertificateId "
    "defaultDisplayName defaultDomain defaultDomainId defaultExpiryDuplicate defaultExpiryVacation "
    "defaultFolders defaultFromAddress defaultFromName defaultGroupRoleIds defaultHostname defaultHrefName "
    "defaultLanguage defaultName defaultReturnPath defaultSubject defaultSubjectPrefix defaultTenantRoleIds "
    "defaultUserRoleIds definition delay deleteAfter deleteAfterUse deliverAt deliverBy deliverTo "
    "deliveryResult depth description details directory directoryId disableCapabilities disabledPermissions "
    "discardAfter disposition dkim2Pass dkim2Result dkimAdspDns dkimCanonicalizedBody dkimCanonicalizedHeader "
    "dkimDomain dkimIdentity dkimManagement dkimPass dkimResults dkimSelector dkimSelectorDns dkimSignDomain "
    "dkimSignatures dkimStrict dkimVerify dmarcPass dmarcPolicy dmarcResult dmarcVerify dnsIpv4 dnsIpv6 "
    "dnsManagement dnsMtaSts dnsMx dnsPtr dnsRbl dnsServer dnsServerId dnsTlsa dnsTxt dnsView dnsZoneFile "
    "documentId documentType domain domainId domainLimit domainNames domainNamesNegative domains dsn due "
    "duplicateExpiry duration eabHmacKey eabKeyId ehloDomain ehloHostname ehloTimeout elapsed else email "
    "emailAddress emailAddresses emailAddressesNegative emailAlert emailDomain emailLimit emailPrefix "
    "emailTemplate enable enableAssistedDiscovery enableEdns enableHsts enableLogExporter enableSpamFilter "
    "enableSpanExporter enabled enabledPermissions encryptAtRest encryptOnAppend encryptionAtRest encryptionKey "
    "endpoint envFrom envFromParameters envId envRcptTo envelopeFrom envelopeTo environment errorCommand "
    "errorMessage errorType errors evaluatedDisposition evaluatedDkim evaluatedSpf event eventAlert eventEnd "
    "eventEndTz eventId eventMessage eventSourceThrottle eventStart eventStartTz events eventsPolicy expire "
    "expires expiresAt expiresAttempts expiry expn expungeSchedule expungeSchedulingInboxAfter "
    "expungeShareNotifyAfter expungeSubmissionsAfter expungeTrashAfter extension extensions extraContactInfo "
    "factor failOnTimeout failedAt failedAttemptNumber failedSessionCount failureDetails failureDkimSignDomain "
    "failureFromAddress failureFromName failureReason failureReasonCode failureSendFrequency failureSubject "
    "featureL2Normalize featureLogScale feedbackType fieldEmail fieldHoneyPot fieldName fieldSubject filePath "
    "files filterLogin filterMailbox filterMemberOf fingerprint flags flagsAction flagsProtocol folderId "
    "forDomain format from fromAddress fromEmail fromName futureRelease generateDkimKeys generator geoUrls "
    "getMaxResults greetingTimeout greylistFor groupClass groupId headerFrom headers holdMetricsFor "
    "holdMtaReportsFor holdSamplesFor holdTracesFor host hostedZoneId hostname hour httpAuth httpHeaders "
    "httpRsvpEnable httpRsvpLinkExpiry httpRsvpTemplate httpRsvpUrl httpRua humanResult iCalendarData id "
    "idTokenExpiry identityAlignment if impersonateServiceAccount implicitTls inMemoryStore "
    "inboundReportAddresses inboundReportForwarding inboundReportMaxSize incidents includeSource indexAsn "
    "indexAsnName indexBatchSize indexCalendar indexCalendarFields indexContactFields indexContacts "
    "indexCountry indexEmail indexEmailFields indexKey indexTelemetry indexTracingFields indexValue "
    "indicatorParameters initialDelay interval intervals ipLimit ipLookupStrategy ipRevPtr ipRevResult isActive "
    "isArchive isBad isEnabled isFromOrganizer isGlobPattern isGzipped isNz isSenderAllowed isSpam isTls issuer "
    "issuerUrl itipMaxSize jitter key keyName keyPrefix keyValues l1Ratio l2Ratio lastRenewal learnHamFromCard "
    "learnHamFromReply learnSpamFromRblHits learnSpamFromTraps level licenseKey line listenerIds listeners "
    "livePropertyMaxSize locale logo logoUrl loiterBanPeriod loiterBanRate lossy machineId mailExchangers "
    "mailFrom mailFromTimeout mailRua mailingLists maintenanceType managedZone match maxAddressBooks maxAge "
    "maxAllowedPacket maxApiKeys maxAppPasswords maxAttachmentSize maxAttempts maxAttendees maxAuthFailures "
    "maxCalendars maxChangesHistory maxConcurrent maxConcurrentRequests maxConcurrentUploads maxConnections "
    "maxContacts maxCpuCycles maxDelay maxDuration maxEntries maxEntrySize maxEventNotifications maxEvents "
    "maxFailures maxFiles maxFolders maxHeaderSize maxICalendarSize maxIdentities maxIncludes maxLocalVars "
    "maxLockTimeout maxLocks maxMailboxDepth maxMailboxNameLength maxMailboxes maxMaskedAddresses maxMatchVars "
    "maxMessageSize maxMessages maxMessagesPerCommand maxMessagesPerSave maxMethodCalls maxMultihomed "
    "maxMxHosts maxNestedBlocks maxNestedForEvery maxNestedIncludes maxNestedTests maxOutMessages "
    "maxParticipantIdentities maxPublicKeys maxPushSize maxReceivedHeaders maxRecipients maxReconnects "
    "maxRecurrenceExpansions maxRedirects maxReportSize maxRequestRate maxRequestSize maxResponseSize "
    "maxResults maxRetries maxRetryWait maxScriptNameLength maxScriptSize maxScripts maxShares maxSize "
    "maxStringLength maxSubmissions maxSubscriptions maxUidBatches maxUploadCount maxUploadSize maxVCardSize "
    "maxVarNameLength maxVarSize memberGroupIds memberTenantId message messageIdHostname messageIds messages "
    "metric metrics metricsCollectionInterval metricsPolicy minHamSamples minRetryWait minSpamSamples "
    "minTriggerInterval minUidBatchSize minute mode model modelId modelType mtPriority mtaSts mtaStsTimeout "
    "multiline mustMatchSender mxHosts name namespace negativeTtl nextNotify nextRetry nextTransitionAt "
    "noCapabilityCheck noEcho noSoliciting nodeId notValidAfter notValidBefore notify notifyCount notifyDue "
    "numFeatures numReplicas numShards onSuccessRenewCertificate openTelemetry options orcpt orgName "
    "organizationName origin originalEnvelopeId originalMailFrom originalRcptTo otpAuth otpCode otpUrl "
    "outboundReportDomain outboundReportSubmitter overrideProxyTrustedNetworks overrideType ovhEndpoint "
    "parameters parseLimitContact parseLimitEmail parseLimitEvent password passwordDefaultExpiry "
    "passwordHashAlgorithm passwordMaxLength passwordMinLength passwordMinStrength path period permissions "
    "pingInterval pipelining policies policyAdkim policyAspf policyDiscoveryMethod policyDisposition "
    "policyDomain policyFailureReportingOptions policyIdentifier policyIdentifiers policyNp "
    "policyOverrideReasons policyStrings policySubdomainDisposition policyTestingMode policyType policyVersion "
    "pollInterval pollingInterval poolMaxConnections poolMinConnections poolRecyclingMethod poolTimeoutCreate "
    "poolTimeoutRecycle poolTimeoutWait poolWorkers port preferredChain prefix preserveIntermediates priority "
    "privateKey privateKeyPassword privateKeyPem privateZone privateZoneOnly profile projectId prometheus "
    "prompt propagationDelay propagationTimeout protectedHeaders protocol protocolVersion providerInfo "
    "proxyTrustedNetworks publicKey publishRecords pushAttemptWait pushMaxAttempts pushRequestTimeout "
    "pushRetryWait pushShardsTotal pushThrottle pushVerifyTimeout queryEmailAliases queryLogin queryMaxResults "
    "queryMemberOf queryRecipient queueId queueName quotas rate rateLimit rateLimitAnonymous "
    "rateLimitAuthenticated ratio rcptToTimeout readFromReplicas readReplicas reason receivedAt receivedFromIp "
    "receivedViaPort receivingIp receivingMxHelo receivingMxHostname recipients records recurrenceId "
    "redirectRoot redirectUris refresh refreshTokenExpiry refreshTokenRenewal region rejectNonFqdn remoteIp "
    "renewBefore report reportAddressUri reportId reportedDomains reportedUris reportingMta requestMaxSize "
    "requestTlsCertificate require requireAudience requireClientRegistration requireScopes requireTls "
    "reservoirCapacity resourceGroup resourceUrl responseCode responseEnhanced responseHeaders responseHostname "
    "responseMessage responsePosCategory responsePosConfidence responsePosExplanation result resultType "
    "retireAfter retry retryCount retryDue returnPath reuseKey reverseIpVerify rewrite roleIds roles rotate "
    "rotateAfter route rua sandbox sasToken saslMechanisms scanBanPaths scanBanPeriod scanBanRate schedule "
    "scheduling scheme scope score scoreDiscard scoreReject scoreSpam script searchStore secret secretAccessKey "
    "secretApiKey secretId secretKey securityToken selector selectorTemplate sendFrequency sendingMtaIp "
    "sentinelSecret sentinelUsername separator serverHostname servers serviceAccountJson serviceName services "
    "sessionToken setMaxObjects shardIndex sharedSecret sig0Algorithm signatureAlgorithm signatureKey "
    "signerName size skipDeploy skipFirst smtpGreeting snippetMaxResults socketBacklog socketNoDelay "
    "socketReceiveBufferSize socketReuseAddress socketReusePort socketSendBufferSize socketTosV4 socketTtl "
    "sourceIp sourceIps sourcePort spamFilterRulesUrl spfDns spfEhloDomain spfEhloResult spfEhloVerify "
    "spfFromVerify spfMailFromDomain spfMailFromResult spfResults stage stages startTime startTls status "
    "storageAccount store stores strategy subAddressing subAuthId subject subjectAlternativeNames subscribe "
    "subscriptionId sum summary supportedLanguages tag tags taskTypes tasks tcpOnError teamId tempFailOnError "
    "temperature template tenancyOcid tenantId tenants text then thirdParty thirdPartyHash threadName "
    "threadPoolSize threadsPerNode throttle timeZone timeout timeoutAnonymous timeoutAuthenticated "
    "timeoutCommand timeoutConnect timeoutConnection timeoutData timeoutIdle timeoutMessage timeoutRequest "
    "timeoutSession timestamp title tls tlsDisableCipherSuites tlsDisableProtocols tlsIgnoreClientOrder "
    "tlsImplicit tlsTimeout to token totalDeadline totalFailedSessions totalSuccessfulSessions traceId tracer "
    "trainFrequency transactionRetryDelay transactionRetryLimit transactionTimeout transferLimit trustContacts "
    "trustReplies tsigAlgorithm ttl unpackDirectory updateRecords uploadQuota uploadTtl url urlLimit urlPrefix "
    "urls usePermissiveCors useTls useXForwarded usedDiskQuota userAgent userCodeExpiry userOcid username "
    "usernameDomain validateDomain value variableName verifyAfterWrite version viewName vrfy waitOnFail "
    "wapiVersion webPushContact webPushKey websocketHeartbeat websocketThrottle websocketTimeout zone zoneIpV4 "
    "zoneIpV6"
).split())

METHOD_FORBIDDEN = "You are not authorized to perform this action"
# POST /_sim/refuse with a null error: what the server says of a host name it cannot take
DEFAULT_REFUSAL = {"type": "invalidPatch", "description": "Invalid hostname or IP address",
                   "properties": ["ehloHostname"]}
SERVER_UNAVAILABLE = ("This server is temporarily unavailable. Attempting this same operation "
                      "later may succeed.")
ANCHOR_NOT_FOUND = "An anchor argument was supplied, but it cannot be found in the results of the query."
SINGLETON_REFUSAL = "Singletons cannot be created or destroyed."
REQUEST_TOO_LARGE = "The number of ids requested by the client exceeds the maximum number the server is willing to process in a single method call."

STRATEGY_PERMISSIONS = frozenset({
    "sysMtaConnectionStrategyGet", "sysMtaConnectionStrategyQuery",
    "sysMtaConnectionStrategyCreate", "sysMtaConnectionStrategyUpdate",
    "sysMtaConnectionStrategyDestroy",
})
# "impersonate" lets a caller name another account in ``accountId`` ([Requests and answers]): the administrator has it.
ALL_PERMISSIONS = STRATEGY_PERMISSIONS | frozenset({
    "sysMtaOutboundStrategyGet", "sysMtaOutboundStrategyCreate", "sysMtaOutboundStrategyUpdate",
    "sysMtaOutboundStrategyDestroy", "sysActionGet", "sysActionQuery", "sysActionCreate", "sysActionUpdate",
    "sysActionDestroy", "actionReloadSettings", "impersonate",
    # without it a key may not use the API at all: 403 at the session and at the JMAP endpoint
    "authenticate",
    # exempt from maxConcurrentRequests, as the server's administrator role is
    "unlimitedRequests",
})
READONLY_PERMISSIONS = frozenset({"authenticate", "sysMtaConnectionStrategyGet", "sysMtaConnectionStrategyQuery",
                                  "sysMtaOutboundStrategyGet"})
# Named permission sets usable in ``--token NAME=<set>``.
PERMISSION_PRESETS = {
    "all": ALL_PERMISSIONS,
    "readonly": READONLY_PERMISSIONS,
    "none": frozenset(),
    # strategies, the outbound update and the reload: no outbound read (purge must refuse)
    "nooutbound": STRATEGY_PERMISSIONS | {"authenticate", "sysMtaOutboundStrategyUpdate", "sysActionCreate",
                                          "actionReloadSettings"},
}


# --------------------------------------------------------------------------------------------
# Ids ([Objects, ids and lists]): u64 in a custom base32 alphabet, big-endian 5-bit digits, no leading zero digits
# --------------------------------------------------------------------------------------------

ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"
_DIGIT = {char: index for index, char in enumerate(ALPHABET)}
# The server's decoder accidentally accepts upper-case K..Z ([Objects, ids and lists]): its inverse table maps them to the
# values of the lower-case letters (crates/utils/src/codec/base32_custom.rs); "K" comes back as "k".
_DIGIT.update({char.upper(): _DIGIT[char] for char in "klmnopqrstuvwxyz"})
SNOWFLAKE_EPOCH_MS = 1_632_268_800_000  # 2021-09-22T00:00:00Z
U64_MASK = (1 << 64) - 1
SINGLETON_VALUE = 20_080_258_862_541  # Id::singleton(): "singleton" read as an id
INVALID_ACCOUNT_ID = U64_MASK - 1  # an accountId at or above this is the caller's own account


def encode_id(value: int) -> str:
    """Render a u64 in Stalwart's base32 alphabet: 0 → "a", 1 → "b", 32 → "ba"."""
    if value == 0:
        return "a"
    digits = []
    while value:
        digits.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(digits))


def decode_id(text) -> int | None:
    """Parse an id string; None when a character is outside the alphabet (or not a string).

    ``""`` parses as 0, like the server ([Objects, ids and lists]). There is no length limit: the server shifts a u64
    left by five bits per character and keeps the low 64 bits, so ``"zzzzzzzzzzzzzzzz"`` is the
    id ``"jzzzzzzzzzzzz"``."""
    if not isinstance(text, str):
        return None
    value = 0
    for char in text:
        digit = _DIGIT.get(char)
        if digit is None:
            return None
        value = ((value << 5) | digit) & U64_MASK
    return value


def canonical_id(text) -> str | None:
    """An id as the server writes it back (decoded and re-encoded: ``"abc"`` → ``"bc"``,
    ``""`` → ``"a"``, ``"K"`` → ``"k"``), or None when it does not parse."""
    value = decode_id(text)
    return None if value is None else encode_id(value)


class IdGenerator:
    """Time-ordered snowflake ids: ms since 2021-09-22 << 21 | node << 12 | sequence."""

    def __init__(self, node: int = 1):
        self.node = node
        self.last = 0

    def next(self) -> int:
        """A new id, strictly greater than every id issued before (also across a restart when
        ``last`` was restored from the state file)."""
        candidate = ((int(time.time() * 1000) - SNOWFLAKE_EPOCH_MS) << 21) | (self.node << 12)
        self.last = max(candidate, self.last + 1)
        return self.last


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

class SetError(Exception):
    """A SetError of [Errors and permissions]; ``to_json`` keeps the server's field order."""

    FIELD_ORDER = ("type", "description", "properties", "existingId", "objectId", "linkedObjects",
                   "validationErrors")

    def __init__(self, kind, description=None, properties=None, **extra):
        super().__init__(description or kind)
        self.fields = {"type": kind, "description": description, "properties": properties, **extra}

    def to_json(self) -> dict:
        """The error object with absent fields omitted."""
        return {key: self.fields[key] for key in self.FIELD_ORDER if self.fields.get(key) is not None}


class MethodError(Exception):
    """A method-level error: answered as ``["error", {...}, callId]``."""

    def __init__(self, kind, description=""):
        super().__init__(description or kind)
        self.kind = kind
        self.description = description

    def to_json(self) -> dict:
        """The error arguments; ``description`` is omitted when empty ([Errors and permissions])."""
        body = {"type": self.kind}
        if self.description:
            body["description"] = self.description
        return body


class RequestError(Exception):
    """A request-level RFC 7807 problem ([Requests and answers])."""

    def __init__(self, status, kind, detail=None, title=None, limit=None, headers=()):
        super().__init__(detail or kind)
        self.status, self.headers = status, list(headers)
        self.body = {"type": kind, "status": status}
        if title is not None:
            self.body["title"] = title
        if detail is not None:
            self.body["detail"] = detail
        if limit is not None:
            self.body["limit"] = limit


def problem_not_found() -> RequestError:
    """404 for unknown paths (and ``POST /api`` in the server dialect, [Endpoints and dialects])."""
    return RequestError(404, "about:blank", "The requested resource does not exist on this server.",
                        title="Not Found")


# --------------------------------------------------------------------------------------------
# Value validation and normalisation ([MtaConnectionStrategy])
# --------------------------------------------------------------------------------------------

# Hostname TLD check: the server uses the psl crate (the Public Suffix List): a name's top-level
# domain must be a rule's last label, or one of the reserved TLDs. The list is data the collection
# also needs (plugins/module_utils/_tlds.py, from the psl crate of Stalwart 0.16.19); it is read
# from there when the simulator runs from a checkout. [APPROXIMATION] Run elsewhere, it falls
# back to every two-letter TLD and a few generic ones.
TLDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "plugins", "module_utils",
                         "_tlds.py")


def load_tlds():
    """(public suffix TLDs, reserved TLDs) from the collection's data file, else a fallback."""
    namespace = {}
    try:
        with open(TLDS_FILE, encoding="utf-8") as handle:
            exec(compile(handle.read(), TLDS_FILE, "exec"), namespace)  # noqa: S102 - our own data file
        return namespace["PUBLIC_SUFFIX_TLDS"], namespace["RESERVED_TLDS"]
    except (OSError, KeyError, SyntaxError):
        fallback = frozenset("com net org edu gov mil int arpa info biz name pro app dev xyz email".split())
        return fallback, frozenset({"test", "localhost", "local", "internal", "lan", "home", "corp",
                                    "intranet", "private", "localdomain"})


PUBLIC_SUFFIX_TLDS, RESERVED_TLDS = load_tlds()
# Unicode White_Space: what the server strips from a host name (Rust's char::is_whitespace)
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                        + "".join(chr(code) for code in range(0x2000, 0x200B)))
VIRAMA = 9  # the canonical combining class of a virama


def parse_ip(text):
    """An ``ipaddress`` object for a string Rust's ``IpAddr::from_str`` accepts, else None.

    Python accepts IPv6 scope ids (``fe80::1%eth0``); Rust does not, so they are refused."""
    if not isinstance(text, str) or "%" in text or text != text.strip() or not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def canonical_ip(address) -> str:
    """The address as Rust's ``Display`` prints it: like Python's compressed form, except that a
    v4-mapped IPv6 keeps the dotted quad (``::ffff:1.2.3.4``, Python says ``::ffff:102:304``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


# UTS 46 maps these to nothing (Default_Ignorable_Code_Point, as NFKC_Casefold drops them)
DEFAULT_IGNORABLE = frozenset(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x180B, 0x1810)) + [0x200B] + list(range(0x2060, 0x2070)) + list(range(0xFE00, 0xFE10))
    + list(range(0x1BCA0, 0x1BCA4)) + list(range(0x1D173, 0x1D17B)))
# UTS 46 deviations: kept as they are in non-transitional processing (the server's)
DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


def uts46_map(label):
    """One lower-cased label as UTS 46's mapping step leaves it, approximately: default-ignorable
    characters dropped, everything else NFKC-casefolded except the four deviations, then NFC.

    [APPROXIMATION] The standard library has no UTS 46 table; NFKC_Casefold is its basis and
    matches it for ordinary names (full-width letters, ligatures, Roman numerals, U+200B), not
    for the characters UTS 46 disallows outright (those are refused later by the TLD check or
    by nothing: the real server is the reference, tests/real/test_agreement.py compares)."""
    mapped = []
    for char in label:
        if ord(char) in DEFAULT_IGNORABLE:
            continue
        mapped.append(char if char in DEVIATIONS else unicodedata.normalize("NFKC", char).casefold())
    return unicodedata.normalize("NFC", "".join(mapped))


def to_a_label(label):
    """One lower-cased label that is not ASCII → its A-label, the way the server's UTS 46
    (non-transitional) conversion does for ordinary names: ``uts46_map``, then Punycode;
    ``ß``, final sigma and the joiners are kept (IDNA 2003 would map them away). None when
    refused.

    Refused as the server refuses them (UTS 46 validity criteria): a label that begins with a
    combining mark; a ZWJ except after a virama; a ZWNJ except after a virama or between joining
    letters; a label that breaks the Bidi rule (``bidi_ok``).

    [APPROXIMATION] The standard library has no Joining_Type: a ZWNJ is taken as between joining
    letters when the nearest letters on both sides (combining marks skipped) are right-to-left
    Arabic letters (bidi class AL), which accepts the Persian and Arabic names the server accepts
    and refuses one between Latin letters, as it does; a right-joining letter before the ZWNJ
    (alef) is accepted here where the server refuses it."""
    label = uts46_map(label)
    if label.isascii():
        return label
    if unicodedata.category(label[0]).startswith("M"):
        return None
    for index, char in enumerate(label):
        if char in "\u200c\u200d":
            after_virama = index > 0 and unicodedata.combining(label[index - 1]) == VIRAMA
            if after_virama:
                continue
            if char == "\u200d" or not between_joining_letters(label, index):
                return None
    if not bidi_ok(label):
        return None
    try:
        return "xn--" + label.encode("punycode").decode("ascii")
    except UnicodeError:
        return None


def between_joining_letters(label, index):
    """Whether the nearest letters before and after ``label[index]`` (combining marks skipped)
    are Arabic-script letters (bidi class AL), the approximation of CheckJoiners' context rule."""
    def nearest(chars):
        for char in chars:
            if not unicodedata.category(char).startswith("M"):
                return char
        return None

    before, after = nearest(reversed(label[:index])), nearest(label[index + 1:])
    return all(char is not None and unicodedata.bidirectional(char) == "AL" for char in (before, after))


def bidi_ok(label):
    """RFC 5893's Bidi rule for a label holding right-to-left characters or Arabic digits (R, AL
    or AN), as UTS 46's CheckBidi applies it: the first character L, R or AL; a left-to-right
    label holds only L, EN, ES, CS, ET, ON, BN and NSM and ends with L or EN; a right-to-left one
    holds only R, AL, AN, EN, ES, CS, ET, ON, BN and NSM, ends with R, AL, EN or AN, and does not
    mix EN and AN (trailing NSM ignored). The server refuses ``ab\u0661``, ``\u0661\u0662``,
    ``a\u0627`` and ``1\u05d0`` (tests/real/test_agreement.py).

    [APPROXIMATION] Applied to the label alone: the server applies it to every label of a name
    that has one such label, ASCII labels included."""
    classes = [unicodedata.bidirectional(char) for char in label]
    if not any(kind in ("R", "AL", "AN") for kind in classes):
        return True
    if classes[0] not in ("L", "R", "AL"):
        return False
    core = classes
    while core and core[-1] == "NSM":
        core = core[:-1]
    if classes[0] == "L":
        allowed, last = {"L", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"}, {"L", "EN"}
    else:
        allowed, last = {"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"}, {"R", "AL", "EN", "AN"}
        if "EN" in classes and "AN" in classes:
            return False
    return set(classes) <= allowed and bool(core) and core[-1] in last


def normalise_hostname(value):
    """[Host names]: an IP literal is kept unchanged; otherwise white space removed, lower-cased, IDN
    labels to A-labels, dot rules and a known TLD. Returns the stored form or None if invalid."""
    if not isinstance(value, str) or not value:
        return None
    if parse_ip(value) is not None:
        return value
    text = "".join(char for char in value if char not in WHITE_SPACE)
    if "." not in text or text.endswith("."):
        return None
    previous = ""
    for char in text:
        # A '.' must follow an alphanumeric, '-' or '_' (no leading dot, no "..").
        if char == "." and not (previous.isalnum() or previous in ("-", "_")):
            return None
        previous = char
    # letter by letter, as Rust's char::to_lowercase (str.lower() applies the final-sigma rule)
    text = "".join(char.lower() for char in text)
    labels = []
    for label in text.split("."):
        if not label.isascii():
            label = to_a_label(label)
            if label is None:
                return None
        labels.append(label)
    # The server checks nothing else of an ASCII name: only the dot rules above and the TLD
    # (crates/utils/src/lib.rs, sanitize_domain and is_valid_domain).
    tld = labels[-1]
    if tld in RESERVED_TLDS or tld in PUBLIC_SUFFIX_TLDS:
        return ".".join(labels)
    return None


_UNITS_MS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
_DURATION_TEXT = re.compile(r"(\d+)(d|h|m|s|ms)?")


def parse_duration_text(text):
    """Stalwart's ``Duration::from_str`` ([MtaConnectionStrategy]): digits plus one unit d|h|m|s|ms or none (= ms),
    case-insensitive, whitespace ignored, no fractions, no compounds. None when invalid."""
    compact = "".join(text.split()).lower()
    match = _DURATION_TEXT.fullmatch(compact)
    if not match:
        return None
    return int(match.group(1)) * dict(_UNITS_MS)[match.group(2) or "ms"]


def human_duration(ms: int) -> str:
    """Milliseconds in the largest exact unit: 300000 → "5m", 90000 → "90s", 250 → "250ms".

    [ASSUMPTION] The docs dialect's exact string rendering is a guess: the reference page only
    shows "5m" and "10m"; no space between number and unit."""
    for unit, size in _UNITS_MS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def is_int(value) -> bool:
    """A JSON integer (``bool`` is not one, although Python says so)."""
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# JSON pointers (jmap-tools): update keys, reference paths and the paths of SetErrors
# --------------------------------------------------------------------------------------------

def parse_pointer(text: str, properties=True) -> list:
    """``JsonPointer::parse``: a list of ("key", str), ("num", int), ("wild",) or ("root",) items.

    Segments may or may not start with "/" (``"ids"`` is ``"/ids"``); digits make a number unless
    they have a leading zero; ``~0``/``~1`` and ``\\x`` escape. A quirk kept from the server: the
    number accumulator is only reset by a number segment. ``properties`` is unused (keys that name a
    registry property and keys that do not behave alike here) and kept for readability."""
    del properties
    items, buf, num, token, start = [], bytearray(), 0, "unknown", 0
    data = text.encode("utf-8", "surrogatepass")

    def process(token_bytes):
        nonlocal num
        if token == "string":
            items.append(("key", buf.decode("utf-8", "replace")))
            buf.clear()
        elif token == "number":
            if token_bytes[:1] == b"0" and len(token_bytes) > 1:
                items.append(("key", token_bytes.decode()))
            else:
                items.append(("num", num))
            num = 0
        elif token == "wild":
            items.append(("wild",))
        elif token == "unknown" and start > 0:
            items.append(("key", ""))

    position = 0
    while position < len(data):
        char = data[position]
        if 0x30 <= char <= 0x39 and token in ("unknown", "number"):
            num = min(num * 10 + char - 0x30, U64_MASK)
            token = "number"
        elif char == 0x2A and token == "unknown":  # *
            token = "wild"
        elif char == 0x30 and token == "escaped":
            buf.extend(b"~")
            token = "string"
        elif char == 0x31 and token == "escaped":
            buf.extend(b"/")
            token = "string"
        elif char == 0x2F:  # /
            process(data[start:position])
            token, start = "unknown", position + 1
        else:
            if token in ("number", "wild") and position > start:
                buf.extend(data[start:position])
            if char == 0x7E and token != "escaped":  # ~
                token = "escaped"
            elif char == 0x5C:  # backslash: the next byte as it is
                position += 1
                buf.append(data[position] if position < len(data) else 0x5C)
                token = "string"
            else:
                buf.append(char)
                token = "string"
        position += 1
    process(data[start:])
    return items or [("root",)]


def pointer_text(items) -> str:
    """A pointer as the server prints it (keys escaped, ``/``-joined, no leading ``/``)."""
    parts = []
    for item in items:
        if item[0] == "key":
            parts.append(item[1].replace("~", "~0").replace("/", "~1"))
        elif item[0] == "num":
            parts.append(str(item[1]))
        elif item[0] == "wild":
            parts.append("*")
        else:
            parts.append("")
    return "/".join(parts)


def parse_u32(text) -> int | None:
    """Rust's ``str::parse::<u32>``: optional ``+``, ASCII digits, at most 4294967295."""
    if not isinstance(text, str) or not re.fullmatch(r"\+?[0-9]+", text):
        return None
    value = int(text)
    return value if value < 1 << 32 else None


# --------------------------------------------------------------------------------------------
# The object model: the registry's JSON patch engine ([MtaConnectionStrategy], [Errors and permissions]), for the types used here
# --------------------------------------------------------------------------------------------

class PatchError(Exception):
    """``invalidPatch`` with the path of the failing location."""

    def __init__(self, path, message):
        super().__init__(message)
        self.path, self.message = path, message

    def set_error(self) -> "SetError":
        return SetError("invalidPatch", self.message, [self.path])


class Pointer:
    """``JsonPointerPatch``: a pointer, a read position, and whether this is a create."""

    def __init__(self, items, is_create, dialect, pos=0):
        self.items, self.is_create, self.dialect, self.pos = items, is_create, dialect, pos

    def next(self):
        if self.pos < len(self.items):
            self.pos += 1
            return self.items[self.pos - 1]
        return None

    def next_property(self):
        """The next segment when it is a key naming a registry property, else None (consumed)."""
        item = self.next()
        return item[1] if item is not None and item[0] == "key" and item[1] in REGISTRY_PROPERTIES else None

    def has_next(self) -> bool:
        return self.pos < len(self.items)

    @property
    def path(self) -> str:
        return pointer_text(self.items)

    def copy(self) -> "Pointer":
        return Pointer(self.items, self.is_create, self.dialect, self.pos)

    def assert_eof(self):
        if self.has_next():
            raise PatchError(self.path, "Invalid JSON Pointer path")


class StringType:
    """``String``: a non-empty string, run through the validators (``hostname``)."""

    def __init__(self, hostname=False):
        self.hostname = hostname

    def default(self):
        return ""

    def patch(self, current, pointer, value):
        if not isinstance(value, str) or value == "":
            raise PatchError(pointer.path, "Invalid value for property.")
        if self.hostname:
            value = normalise_hostname(value)
            if value is None:
                raise PatchError(pointer.path, "Invalid hostname or IP address")
        pointer.assert_eof()
        return value


class OptionType:
    """``Option<T>``: null clears; otherwise the inner type patches the value (or its default)."""

    def __init__(self, inner):
        self.inner = inner

    def default(self):
        return None

    def patch(self, current, pointer, value):
        if value is None:
            pointer.assert_eof()
            return None
        return self.inner.patch(self.inner.default() if current is None else current, pointer, value)


class DurationType:
    """``Duration``: integer milliseconds > 0 ([MtaConnectionStrategy]); the docs dialect also reads "5m"."""

    def __init__(self, default):
        self.default_ms = default

    def default(self):
        return self.default_ms

    def patch(self, current, pointer, value):
        item = pointer.next()
        if item is None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if is_int(value) and 0 < value < 1 << 64:
                return value
            raise PatchError(pointer.path, "Invalid duration value")
        if item is None and isinstance(value, str) and pointer.dialect == "docs":
            # [ASSUMPTION] the docs dialect parses strings with Duration::from_str; a string
            # that does not parse (or is 0) is an "Invalid duration value".
            parsed = parse_duration_text(value)
            if parsed is None or parsed <= 0 or parsed >= 1 << 64:
                raise PatchError(pointer.path, "Invalid duration value")
            return parsed
        raise PatchError(pointer.path, "Invalid path for Duration")


class IpType:
    """``IpAddr``: a string Rust parses, stored in Rust's canonical form (``0.0.0.0`` default)."""

    def default(self):
        return "0.0.0.0"

    def patch(self, current, pointer, value):
        item = pointer.next()
        if item is None and isinstance(value, str):
            address = parse_ip(value)
            if address is None:
                raise PatchError(pointer.path, "Failed to parse IpAddr from string")
            return canonical_ip(address)
        raise PatchError(pointer.path, "Invalid path for IpAddr, expected a string value")


class ListType:
    """``List<T>`` ([Objects, ids and lists]): an object keyed by u32 positions; a pointer addresses one item."""

    def __init__(self, inner):
        self.inner = inner

    def default(self):
        return {}

    def patch(self, current, pointer, value):
        items = {int(key): item for key, item in current.items()}
        item = pointer.next()
        key = None
        if item is not None and item[0] == "num":
            key = item[1] & 0xFFFF_FFFF  # the server's `as u32`
        elif item is not None and item[0] == "key":
            key = parse_u32(item[1])
        if key is not None:
            if value is None and not pointer.has_next():
                if key in items:
                    del items[key]
                    return self.numbered(items)
            else:
                base = items.get(key)
                items[key] = self.inner.patch(self.inner.default() if base is None else base, pointer, value)
                return self.numbered(items)
        elif item is None and isinstance(value, dict):
            replaced = {}
            for text, entry in value.items():
                position = parse_u32(text)
                if position is None:
                    raise PatchError(pointer.path, "Invalid key for object property")
                replaced[position] = self.inner.patch(self.inner.default(), pointer.copy(), entry)
            return self.numbered(replaced)
        raise PatchError(pointer.path, "Invalid value for object property")

    @staticmethod
    def numbered(items) -> dict:
        """Positions as string keys, in numeric order (renumbered only when stored)."""
        return {str(key): items[key] for key in sorted(items)}


class StructType:
    """A registry object or nested object: fields patched one by one, a whole JSON object
    merged into the current value (fields it does not name keep their values)."""

    def __init__(self, fields, read_only=(), defaults=None):
        self.fields, self.read_only, self.defaults = fields, frozenset(read_only), defaults or {}

    def default(self):
        return {name: copy.deepcopy(self.defaults[name]) if name in self.defaults else kind.default()
                for name, kind in self.fields.items()}

    def patch(self, current, pointer, value):
        if pointer.has_next():
            return self.patch_property(current, pointer, value)
        if not isinstance(value, dict):
            raise PatchError(pointer.path, "Invalid value type for object")
        result = current
        for key, entry in value.items():
            if key not in REGISTRY_PROPERTIES:
                raise PatchError(pointer.path, "Invalid key for object")
            if key == "@type":
                continue
            try:
                result = self.patch_property(result, Pointer([("key", key)], pointer.is_create, pointer.dialect),
                                             entry)
            except PatchError as error:
                if error.path:
                    if pointer.items:
                        error.path = f"{pointer.path}/{error.path}"
                else:
                    error.path = pointer_text(list(pointer.items) + [("key", key)])
                raise
        return result

    def patch_property(self, current, pointer, value):
        name = pointer.next_property()
        if name == "@type":  # ignored: these objects have a single variant ([Objects, ids and lists])
            return current
        if name not in self.fields:
            raise PatchError(pointer.path, "Invalid property")
        if name in self.read_only and not pointer.is_create:
            raise PatchError(pointer.path, "Cannot modify read-only property")
        result = dict(current)
        result[name] = self.fields[name].patch(current[name], pointer, value)
        return result


IP_HOST = StructType({"ehloHostname": OptionType(StringType(hostname=True)), "sourceIp": IpType()})
STRATEGY = StructType({
    "name": StringType(), "description": OptionType(StringType()),
    "ehloHostname": OptionType(StringType(hostname=True)), "sourceIps": ListType(IP_HOST),
    **{name: DurationType(default) for name, default in DEFAULT_DURATIONS.items()},
}, read_only=("name",))
EXPRESSION_MATCH = StructType({"if": StringType(), "then": StringType()})
EXPRESSION = StructType({"match": ListType(EXPRESSION_MATCH), "else": StringType()})
LOCAL_DOMAIN_MATCH = {"if": "is_local_domain(rcpt_domain)", "then": "'local'"}
OUTBOUND = StructType({name: EXPRESSION for name in ("connection", "route", "schedule", "tls")}, defaults={
    # MtaOutboundStrategy::default() (crates/registry/src/schema/structs_impl.rs)
    "connection": {"match": {}, "else": "'default'"},
    "route": {"match": {"0": LOCAL_DOMAIN_MATCH}, "else": "'mx'"},
    "schedule": {"match": {"0": LOCAL_DOMAIN_MATCH, "1": {"if": "source == 'dsn'", "then": "'dsn'"},
                           "2": {"if": "source == 'report'", "then": "'report'"}}, "else": "'remote'"},
    "tls": {"match": {"0": {"if": "retry_num > 0 && last_error == 'tls'", "then": "'invalid-tls'"}},
            "else": "'default'"},
})


def default_strategy() -> dict:
    """A strategy with every default of [MtaConnectionStrategy] (``name`` empty, which fails validation)."""
    return STRATEGY.default()


def renumbered(source_ips) -> dict:
    """Storage keeps only the values, so positions come back contiguous from 0 ([Objects, ids and lists])."""
    return {str(index): dict(source_ips[key]) for index, key in enumerate(sorted(source_ips, key=int))}


def patch_create(kind: StructType, base: dict, body, dialect: str) -> dict:
    """A create: the whole body patched onto ``base`` (the defaults) in create mode; raises
    ``SetError``."""
    try:
        return kind.patch(base, Pointer([], True, dialect), body)
    except PatchError as error:
        raise error.set_error() from None


def patch_update(kind: StructType, stored: dict, patch: dict, dialect: str) -> dict:
    """An update: each key of ``patch`` (a property name or a JSON pointer) patched in turn onto a
    copy of ``stored``; raises ``SetError``."""
    result = copy.deepcopy(stored)
    for key, value in patch.items():
        if key == "@type":
            continue
        items = [("key", key)] if key in REGISTRY_PROPERTIES else parse_pointer(key)
        try:
            result = kind.patch(result, Pointer(items, False, dialect), value)
        except PatchError as error:
            raise error.set_error() from None
    return result


def leb128_size(number: int) -> int:
    """Bytes of ``number`` as an unsigned LEB128 varint (the server's integer pickling)."""
    size = 1
    while number >= 0x80:
        number >>= 7
        size += 1
    return size


def pickled_size(stored: dict) -> int:
    """The size the server checks against ``MAX_OBJECT_SIZE``: its pickle of the strategy, a
    version byte, then each field (crates/registry/src/pickle.rs, types/ipaddr.rs): a string is
    its UTF-8 length as LEB128 then its bytes, an optional a 0/1 byte then the value, a list its
    length then its items, an IP address a family byte then 4 or 16 bytes, a duration its
    milliseconds as LEB128. The real run: a random 199,980-character description under a
    7-character name is 200,013 bytes.

    [APPROXIMATION] Past 8 KiB the server LZ4-compresses the pickle and measures the result
    when it is smaller, so it takes a long value that compresses well ("d" * 250000); the simulator
    measures the pickle uncompressed, as if nothing compressed."""
    def text(value):
        encoded = value.encode("utf-8", "surrogatepass")
        return leb128_size(len(encoded)) + len(encoded)

    def optional(value):
        return 1 if value is None else 1 + text(value)

    size = 1 + text(stored["name"] or "") + optional(stored["description"]) + optional(stored["ehloHostname"])
    items = list(stored["sourceIps"].values())
    size += leb128_size(len(items))
    for item in items:
        address = parse_ip(item["sourceIp"])
        size += optional(item["ehloHostname"]) + 1 + (16 if address is not None and address.version == 6 else 4)
    for prop in DURATION_PROPERTIES:
        value = stored[prop]
        size += leb128_size(value if is_int(value) and value >= 0 else 0)
    return size


def validate_strategy(stored: dict):
    """Write-time validation ([Errors and permissions]): required ``name``, no ``0.0.0.0`` source IP, size."""
    errors = []
    if not stored.get("name"):
        errors.append({"type": "Required", "property": "name"})
    for item in stored["sourceIps"].values():
        if item["sourceIp"] == "0.0.0.0":
            errors.append({"type": "Invalid", "property": "sourceIp", "value": "0.0.0.0"})
    if errors:
        raise SetError("validationFailed", validationErrors=errors)
    size = pickled_size(stored)
    if size > MAX_OBJECT_SIZE:
        raise SetError("validationFailed", validationErrors=[{
            "type": "Invalid", "property": "id",
            "value": f"Object size {size} exceeds maximum of {MAX_OBJECT_SIZE}"}])


def wire_object(stored: dict, object_id: str, order, properties=None, durations=None) -> dict:
    """The /get form ([MtaConnectionStrategy]): fixed key order, explicit nulls, ``id`` last; ``durations`` renders
    the duration properties (the docs dialect's strings)."""
    wire = {}
    for name in order:
        if properties is not None and name not in properties:
            continue
        value = copy.deepcopy(stored[name])
        if name == "sourceIps":
            value = renumbered(value)
        elif durations is not None and name in DURATION_PROPERTIES:
            value = durations(value)
        wire[name] = value
    wire["id"] = object_id
    return wire


def wire_strategy(stored: dict, object_id: str, dialect: str, properties=None) -> dict:
    """A strategy as /get shows it in ``dialect``."""
    return wire_object(stored, object_id, PROPERTY_ORDER, properties,
                       human_duration if dialect == "docs" else None)


def default_outbound() -> dict:
    """The ``MtaOutboundStrategy`` singleton's defaults ([MtaOutboundStrategy]): four expressions."""
    return OUTBOUND.default()


def outbound_expressions_error(outbound: dict) -> SetError | None:
    """The server compiles the four expressions after a patch; the first that fails gives
    ``validationFailed`` naming the property."""
    for name in OUTBOUND.fields:
        message = expression_error(name, outbound[name])
        if message is not None:
            return SetError("validationFailed", properties=[name],
                            validationErrors=[{"type": "Invalid", "property": name, "value": message}])
    return None


def outbound_pickled_size(outbound: dict) -> int:
    """The size of the outbound strategy as ``MAX_OBJECT_SIZE`` counts it: one object, its four
    expressions together (Stalwart 0.16.19 refused a ``connection`` of 2,500 rules beside a
    ``route`` of 2,500 with ``Invalid id = 'Object size 224587 exceeds maximum of 200000'`` and took
    each alone).

    [APPROXIMATION] The layout is taken to be that of a strategy's pickle: a version byte, then per
    expression its rule count and each rule's condition and result as strings (LEB128 length, then
    the UTF-8 bytes), then its else; and, as for strategies, measured uncompressed, where the server
    measures an LZ4-compressed pickle past 8 KiB when that is smaller."""
    def text(value):
        encoded = str(value if value is not None else "").encode("utf-8", "surrogatepass")
        return leb128_size(len(encoded)) + len(encoded)

    size = 1
    for name in OUTBOUND.fields:
        rules = list((outbound[name].get("match") or {}).values())
        size += leb128_size(len(rules)) + text(outbound[name].get("else"))
        size += sum(text(rule.get("if")) + text(rule.get("then")) for rule in rules)
    return size


def outbound_size_error(outbound: dict) -> SetError | None:
    """``validationFailed`` (``Invalid id``), as for a strategy, when the outbound strategy is too large."""
    size = outbound_pickled_size(outbound)
    if size <= MAX_OBJECT_SIZE:
        return None
    return SetError("validationFailed", validationErrors=[{
        "type": "Invalid", "property": "id", "value": f"Object size {size} exceeds maximum of {MAX_OBJECT_SIZE}"}])


def stored_outbound(outbound: dict) -> dict:
    """Expression lists renumbered from 0, as storage leaves them."""
    return {name: {"match": renumbered(value["match"]), "else": value["else"]} for name, value in outbound.items()}


# --------------------------------------------------------------------------------------------
# References ([Query and references]): what the server's result-reference evaluation finds
# --------------------------------------------------------------------------------------------

class ReferenceNotFound(Exception):
    """The referenced response is missing, or its path does not start where it can."""


def evaluate_reference(response_name: str, result: dict, items: list) -> list:
    """The values a result reference's path yields from one response, as
    ``("id", text)`` and ``("property", text)`` entries (crates/jmap-proto/src/references/jsptr.rs).

    Only a /get (``/list/...``) or a /query (``/ids...``) response can be referenced; a path
    segment that does not match yields nothing rather than an error, and only ids are collected
    from a /get (a ``/list/*/name`` path yields an empty list)."""
    found = []
    kind = response_name.rsplit("/", 1)[-1]
    head, rest = (items[0], items[1:]) if items else (None, [])
    if kind == "get" and head is not None and head[0] == "key" and head[1] == "list":
        evaluate_list(result.get("list") or [], rest, lambda value, tail: evaluate_value(value, tail, found))
        return found
    if kind == "query" and head is not None and head[0] == "key" and head[1] == "ids":
        # an id ends the path: the segments below it are ignored
        evaluate_list(result.get("ids") or [], rest, lambda value, tail: found.append(("id", value)))
        return found
    raise ReferenceNotFound


def evaluate_list(values, items, each):
    head, rest = (items[0], items[1:]) if items else (None, [])
    if head is not None and head[0] == "num":
        if head[1] < len(values):
            each(values[head[1]], rest)
    elif head is None or head[0] in ("wild", "root"):
        for value in values:
            each(value, rest)


def evaluate_value(value, items, found, is_id=False):
    """One value of a /get ``list`` (an object, or a value inside it). Only ids are collected: in
    these objects, the top-level ``id``."""
    head, rest = (items[0], items[1:]) if items else (None, [])
    if head is None or head[0] == "root":
        if is_id:
            found.append(("id", value))
    elif head[0] == "key":
        if isinstance(value, dict) and head[1] in value:
            evaluate_value(value[head[1]], rest, found, head[1] == "id")
    elif head[0] == "num":
        if isinstance(value, dict) and str(head[1]) in value:
            evaluate_value(value[str(head[1])], rest, found, str(head[1]) == "id")
        elif isinstance(value, list) and head[1] < len(value):
            evaluate_value(value[head[1]], rest, found)
    elif isinstance(value, dict):  # a wildcard
        for key, entry in value.items():
            evaluate_value(entry, rest, found, key == "id")
    elif isinstance(value, list):
        for entry in value:
            evaluate_value(entry, rest, found)


def reference_text(reference: dict) -> str:
    """A result reference as the server prints it in an error."""
    return (f"{{ resultOf: {reference['resultOf']}, name: {reference['name']}, "
            f"path: {pointer_text(parse_pointer(reference['path']))} }}")


def resolve_key_references(value, created_ids, depth=0):
    """Object keys ``"#n1"`` naming a creation id (depth < 5) become that id; values are not
    resolved (no property of these objects holds an id)."""
    if isinstance(value, dict) and depth < 5:
        resolved = {}
        for key, item in value.items():
            if key.startswith("#") and key[1:] in created_ids:
                key = created_ids[key[1:]]
            resolved[key] = resolve_key_references(item, created_ids, depth + 1) \
                if isinstance(item, (dict, list)) else item
        return resolved
    if isinstance(value, list) and depth < 5:
        return [resolve_key_references(item, created_ids, depth + 1) for item in value]
    return value


# --------------------------------------------------------------------------------------------
# Expressions of the outbound strategy ([MtaOutboundStrategy]): which texts the server refuses, and its words
# --------------------------------------------------------------------------------------------

# The expression language's vocabulary, as data: its functions and how many arguments each takes
# (the server's function table, crates/common/src/expr/functions/mod.rs)
EXPRESSION_FUNCTIONS = {
    "count": 1, "sort": 2, "dedup": 1, "winnow": 1, "is_intersect": 2, "is_email": 1, "email_part": 2,
    "is_empty": 1, "is_number": 1, "is_ip_addr": 1, "is_ipv4_addr": 1, "is_ipv6_addr": 1,
    "is_ip_in_cidr": 2, "ip_reverse_name": 1, "trim": 1, "trim_end": 1, "trim_start": 1, "len": 1,
    "to_lowercase": 1, "to_uppercase": 1, "is_uppercase": 1, "is_lowercase": 1, "has_digits": 1,
    "count_spaces": 1, "count_uppercase": 1, "count_lowercase": 1, "count_chars": 1, "contains": 2,
    "contains_ignore_case": 2, "eq_ignore_case": 2, "starts_with": 2, "ends_with": 2, "lines": 1,
    "substring": 3, "strip_prefix": 2, "strip_suffix": 2, "split": 2, "rsplit": 2, "split_once": 2,
    "rsplit_once": 2, "split_n": 3, "split_words": 1, "hash": 2, "if_then": 3,
    # the asynchronous ones
    "is_local_domain": 1, "is_local_address": 1, "key_get": 2, "key_exists": 2, "key_set": 3,
    "counter_incr": 3, "counter_get": 2, "dns_query": 2, "sql_query": 3,
}
# ExpressionVariable and ExpressionConstant (crates/registry/src/schema/enums_impl.rs)
EXPRESSION_VARIABLES = frozenset((
    "asn attributes authenticated_as authority bcc bcc.domain bcc.local bcc.name body body.html body.raw "
    "body.text body.words cc cc.domain cc.local cc.name country domain email email_lower env_from "
    "env_from.domain env_from.local env_to expires_in from from.domain from.local from.name headers "
    "helo_domain host ip ip_reverse is_tls is_v4 is_v6 last_error last_status listener local local_ip "
    "local_port location method mx name name_lower notify_num octets path path_query port priority "
    "protocol query queue_age queue_name raw raw_lower rcpt rcpt_domain received_from_ip "
    "received_via_port recipients remote_ip remote_ip.ptr remote_port reply_to reply_to.domain "
    "reply_to.local reply_to.name retry_num reverse_ip scheme sender sender_domain size sld source "
    "subject subject.thread subject.words to to.domain to.local to.name url url_original value "
    "value_lower").split())
EXPRESSION_CONSTANTS = frozenset((
    "relaxed strict disable optional require ipv4_only ipv6_only ipv6_then_ipv4 ipv4_then_ipv6 hourly "
    "daily weekly login plain xoauth2 oauthbearer mixer stanag4406 nsep").split())
# The variables each outbound expression may use (MTA_QUEUE_HOST_VARIABLE, MTA_QUEUE_RCPT_VARIABLE)
HOST_VARIABLES = frozenset((
    "sender sender_domain rcpt_domain rcpt recipients mx priority remote_ip local_ip retry_num "
    "notify_num expires_in last_status last_error queue_name queue_age received_from_ip "
    "received_via_port source size").split())
RCPT_VARIABLES = HOST_VARIABLES - {"mx", "remote_ip", "local_ip"}
OUTBOUND_VARIABLES = {"connection": HOST_VARIABLES, "route": RCPT_VARIABLES, "schedule": RCPT_VARIABLES,
                      "tls": HOST_VARIABLES}
SYSTEM_VARIABLES = frozenset({"domain", "hostname", "node_id", "node_hostname", "node_role"})


def rust_debug(text: str) -> str:
    """A string as Rust's ``{:?}`` prints it (quotes; backslash, quote and control escapes)."""
    out = []
    for char in text:
        if char in "\"\\":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == "\0":
            out.append("\\0")
        elif unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char in ("\u00ad",):
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def rust_char_debug(char: str) -> str:
    """A character as Rust's ``{:?}`` prints it: ``'#'``."""
    return "'" + ("\\'" if char == "'" else rust_debug(char)[1:-1].replace('\\"', '"')) + "'"


# [APPROXIMATION] The checks below are the simulator's own: a scanner and one left-to-right pass
# that answer the server's messages for the mistakes people make (checked case by case against a
# real server by tests/simulator/test_differential.py). The server's parser is more lenient than
# a grammar would be ("1 +" and "'a' 'b'" are accepted) and so is this one: it checks only words,
# strings, brackets and argument counts. Known differences, all on malformed text that both sides
# refuse with different words or that only the server refuses:
# - arguments are counted as the comma-separated slots that hold anything; the server counts
#   operands less binary operators, so "count(1 +)" and "count(1 2)" pass here;
# - a word is letters, digits, "_", "$" and "."; the server lets a word with a dot go on with ":"
#   and "*", so "a.*" is refused here as "a." rather than as "a.*";
# - a function name that is not followed by "(" is refused when its bracket closes or the text
#   ends, wherever its operands are.
EXPRESSION_SPACE = " \r\n"  # a tab is not white space to the server: it is an invalid character
EXPRESSION_OPERATORS = ("==", "!=", ">=", "<=", "&&", "||", "=", "!", "&", "|", "^", "+", "-", "*", "/", ">",
                        "<", ",")
WORD = re.compile(r"[A-Za-z0-9_$.]+")
SPECIAL_FUNCTIONS = ("matches", "system", "metric")  # their first argument is a quoted name or pattern


class ExpressionText:
    """The text of one expression, read token by token: ``(kind, value, ends_text)``."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def error_char(self, char: str) -> ValueError:
        # the server reads the text byte by byte: "é" is reported as its first byte, 'Ã'
        shown = chr(char.encode("utf-8")[0]) if not char.isascii() else char
        return ValueError(f"Invalid character {rust_char_debug(shown)}")

    def quoted(self) -> str:
        """The string that starts at ``pos`` (a quote), with its backslash escapes undone."""
        quote, out = self.text[self.pos], []
        index = self.pos + 1
        while index < len(self.text):
            char = self.text[index]
            if char == "\\" and index + 1 < len(self.text):
                out.append({"n": "\n", "r": "\r", "t": "\t"}.get(self.text[index + 1], self.text[index + 1]))
                index += 2
            elif char == quote:
                self.pos = index + 1
                return "".join(out)
            else:
                out.append(char)
                index += 1
        raise ValueError("Unterminated string")

    def skip_to(self, wanted: str) -> None:
        """Past white space (tabs and form feeds too, here) to ``wanted``, which must come next."""
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n\x0c\r":
            self.pos += 1
        if self.pos >= len(self.text):
            raise ValueError("Unexpected end of expression")
        if self.text[self.pos] not in wanted:
            raise ValueError(f"Expected {rust_char_debug(wanted[0])}, found invalid character "
                             f"{rust_char_debug(self.text[self.pos])}")

    def tokens(self):
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "}":  # the server stops reading at a closing brace
                return
            if char in EXPRESSION_SPACE:
                self.pos += 1
            elif char in "'\"":
                yield "string", self.quoted(), False
            elif (word := WORD.match(text, self.pos)):
                self.pos = word.end()
                name = word.group()
                if name in SPECIAL_FUNCTIONS and text[self.pos:self.pos + 1] == "(":
                    yield "special", self.special(name), False
                    yield "(", "(", False
                    continue
                yield "word", name, self.pos >= len(text) or text[self.pos] == "}"
            elif char in "()[]":
                self.pos += 1
                yield char, char, False
            else:
                operator = next((op for op in EXPRESSION_OPERATORS if text.startswith(op, self.pos)), None)
                if operator is None:
                    raise self.error_char(char)
                if operator == "=" and self.pos + 1 < len(text):
                    operator = text[self.pos:self.pos + 2]  # "=" takes the character after it with it
                self.pos += len(operator)
                yield "operator", operator, False

    def special(self, name: str) -> str:
        """``matches('re', …``, ``system('name'`` or ``metric('name'``: the quoted first argument."""
        self.pos += 1
        self.skip_to("\"'")
        value = self.quoted()
        if name == "matches":
            try:
                re.compile(value)  # [APPROXIMATION] Python's re stands in for the server's regex engine
            except re.error as error:
                raise ValueError(f"Invalid regular expression {rust_debug(value)}: {error}") from None
            self.skip_to(",")
            self.pos += 1
        elif name == "system" and value not in SYSTEM_VARIABLES:
            raise ValueError(f"Invalid system variable name {rust_debug(value)}")
        return name


def check_word(word: str, variables) -> str:
    """What a word is ("number", "variable", "function", "name"), or ValueError as the server says."""
    if not re.search(r"[A-Za-z_$]", word) and re.search(r"[0-9]", word):
        if "." in word:
            if word.count(".") > 1:
                raise ValueError(f"Invalid float value {word}")
            return "number"
        if int(word) >= 1 << 63:
            raise ValueError(f"Invalid integer value {word}")
        return "number"
    if word in ("true", "false") or (word.startswith("$") and len(word) > 1):
        return "name"
    if word in EXPRESSION_FUNCTIONS:
        return "function"
    if word in EXPRESSION_VARIABLES:
        if word not in variables:
            raise ValueError(f"Variable {rust_debug(word)} not allowed in this context")
        return "variable"
    if word in EXPRESSION_CONSTANTS or parse_duration_text(word) is not None:
        return "name"
    raise ValueError(f"Invalid variable or constant {rust_debug(word)}")


class Group:
    """One open bracket: ``(`` (a call of ``function`` when it has one), ``[`` (an index when
    ``index``); counts the argument slots that hold something."""

    def __init__(self, bracket, function=None, index=False):
        self.bracket, self.function, self.index = bracket, function, index
        self.slots, self.filled, self.dangling = 0, False, False

    def operand(self):
        self.filled = True

    def comma(self):
        self.slots += self.filled
        self.filled = False

    def arguments(self) -> int:
        return self.slots + self.filled


def check_expression(text: str, variables) -> None:
    """Raises ValueError with the server's message when it would refuse ``text`` (see above)."""
    groups = [Group(None)]
    pending_call = None  # a function name whose "(" is still to come
    indexable = False  # the last thing read was a variable or a closing bracket
    for kind, value, ends_text in ExpressionText(text).tokens():
        if kind == "word" and ends_text and len(groups) > 1 and any(g.bracket == "(" for g in groups):
            raise ValueError("Unmatched open parenthesis")  # checked before the last word is read
        if pending_call is not None and kind != "(":
            groups[-1].dangling = True
            pending_call = None
        was_indexable, indexable = indexable, False
        if kind == "word":
            what = check_word(value, variables)
            groups[-1].operand()
            if what == "function":
                pending_call = value
            indexable = what == "variable"
        elif kind == "special":
            groups[-1].operand()
            pending_call = value
        elif kind == "string":
            groups[-1].operand()
        elif kind == "operator":
            if value == ",":
                groups[-1].comma()
        elif kind == "(":
            if pending_call is None:
                groups[-1].operand()
            groups.append(Group("(", pending_call))
            pending_call = None
        elif kind == "[":
            if not was_indexable:
                groups[-1].operand()
            groups.append(Group("[", index=was_indexable))
        else:  # ")" or "]"
            if kind == ")" and not any(g.bracket == "(" for g in groups):
                raise ValueError("Unmatched close parenthesis")
            group = groups.pop()
            if group.dangling or group.bracket != {")": "(", "]": "["}[kind]:
                raise ValueError("Mismatched parentheses")
            check_arguments(group)
            indexable = True
    if any(g.bracket == "(" for g in groups):
        raise ValueError("Unmatched open parenthesis")
    if pending_call is not None or len(groups) > 1 or groups[0].dangling:
        raise ValueError("Invalid token on the operator stack")


def check_arguments(group: Group) -> None:
    got = group.arguments()
    if group.index and got != 1:
        raise ValueError("Missing array index")
    if group.function in ("system", "metric"):
        if got:
            raise ValueError("Expression function expected 1 argument")
    elif group.function == "matches":
        if got != 1:
            raise ValueError('Expression function "matches" expected 2 arguments')
    elif group.function is not None and got != EXPRESSION_FUNCTIONS[group.function]:
        raise ValueError(f"Expression function {rust_debug(group.function)} expected "
                         f"{EXPRESSION_FUNCTIONS[group.function]} arguments, got {got}")


def expression_error(property_name: str, expression: dict) -> str | None:
    """What the server's expression compiler says of one stored ``Expression`` ([MtaOutboundStrategy]), or None."""
    if expression["else"] == "":
        return "Missing 'else' block in 'if' expression" if expression["match"] else None
    matches = [expression["match"][key] for key in sorted(expression["match"], key=int)]
    if any(entry["if"] == "" or entry["then"] == "" for entry in matches):
        return "All 'if' and 'then' blocks must be non-empty"
    variables = OUTBOUND_VARIABLES[property_name]
    try:
        check_expression(expression["else"], variables)
    except ValueError as error:
        return f"Error parsing 'else' expression: {error}"
    for number, entry in enumerate(matches, 1):
        for part in ("if", "then"):
            try:
                check_expression(entry[part], variables)
            except ValueError as error:
                return f"Error parsing '{part}' expression in condition #{number}: {error}"
    return None


# --------------------------------------------------------------------------------------------
# Accounts and authentication ([Authentication])
# --------------------------------------------------------------------------------------------

class Account:
    """A principal: its login name, JMAP account id and permissions."""

    def __init__(self, name, number, permissions):
        self.name, self.number, self.permissions = name, number, frozenset(permissions)

    @property
    def id(self) -> str:
        """The account id as a base32 string ("b" for account 1)."""
        return encode_id(self.number)

    @property
    def state(self) -> str:
        """``sessionState``: a u32 in hex as the server writes it, ``{:x}`` (no leading zeros, 1 to 8
        digits; [Requests and answers]). What the u32 is, is the simulator's guess: a hash of the
        account's name, fixed for the account."""
        return format(zlib.crc32(self.name.encode()), "x")


def parse_permissions(text: str) -> frozenset:
    """``perm1,perm2``, or a preset name (all, readonly, none, nooutbound), or a mix."""
    permissions = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        permissions |= PERMISSION_PRESETS.get(part, {part})
    return frozenset(permissions)


# --------------------------------------------------------------------------------------------
# The simulated server state and JMAP processing
# --------------------------------------------------------------------------------------------

def empty_stats() -> dict:
    """Counters of the control surface (``GET /_sim/stats``)."""
    return {"requests": 0, "session_requests": 0, "posts": 0, "method_calls": {}, "set_calls": 0,
            "writes": 0, "objects_created": 0, "objects_updated": 0, "objects_destroyed": 0,
            "reloads": 0, "bytes_in": 0, "bytes_out": 0, "max_calls_in_one_post": 0, "set_errors": {}}


# --------------------------------------------------------------------------------------------
# Method arguments as the server's deserializer reads them
# --------------------------------------------------------------------------------------------

KNOWN_METHODS = frozenset({GET, SET, QUERY, OUTBOUND_GET, OUTBOUND_SET, ACTION_GET, ACTION_SET, ACTION_QUERY,
                           ECHO})


def serde_value(value) -> str:
    """How serde names a JSON value in an "invalid type" message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if is_int(value):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {rust_debug(value)}"
    return "sequence" if isinstance(value, list) else "map"


class ArgumentProblem(Exception):
    """A value the server cannot deserialize: ``recoverable`` when the server reads on after it
    (a scalar, nothing but closing brackets after it in the call's arguments); ``where`` is the
    path, from the arguments object, of the value after which the server's reader stopped."""

    def __init__(self, message, recoverable, where, after=0):
        super().__init__(message)
        self.message, self.recoverable, self.where = message, recoverable, where
        self.after = after  # a custom error right after a value is placed one byte further


def expect(value, ok, expected, last, where, nullable=True):
    """Raise ``ArgumentProblem`` unless ``ok(value)`` (or a null that is allowed)."""
    if (value is None and nullable) or (value is not None and ok(value)):
        return
    compound = isinstance(value, (dict, list))
    raise ArgumentProblem(f"invalid type: {serde_value(value)}, expected {expected}", last and not compound, where)


def expect_strings(value, expected_item, last, where):
    """A list of strings (or null)."""
    expect(value, lambda v: isinstance(v, list), "a sequence", last, where)
    for index, item in enumerate(value or ()):
        expect(item, lambda v: isinstance(v, str), expected_item, last and index == len(value) - 1,
               (*where, index), nullable=False)


def expect_reference(value, last, where):
    """A ResultReference: an object with string ``resultOf``, ``name`` and ``path``."""
    expect(value, lambda v: isinstance(v, dict), "struct ResultReference", last, where, nullable=False)
    for index, key in enumerate(value):
        if key in ("resultOf", "name", "path"):
            expect(value[key], lambda v: isinstance(v, str), "a string", last and index == len(value) - 1,
                   (*where, key), nullable=False)
    for key in ("resultOf", "name", "path"):
        if key not in value:
            raise ArgumentProblem(f"missing field `{key}`", last, where)


def expect_filter(value, last, where):
    """A filter object (FilterMapCollector): ``operator`` AND/OR/NOT, ``conditions`` a list of
    filter objects (or nulls), not both conditions and properties."""
    if value is None:
        return
    expect(value, lambda v: isinstance(v, dict), "a filter object", last, where, nullable=False)
    has_conditions = has_property = False
    for index, (key, item) in enumerate(value.items()):
        tail = last and index == len(value) - 1
        if key == "operator":
            expect(item, lambda v: isinstance(v, str), "a borrowed string", tail, (*where, key), nullable=False)
            if item not in ("AND", "OR", "NOT"):
                raise ArgumentProblem("Unknown filter operator: operator", tail, (*where, key), after=1)
        elif key == "conditions":
            has_conditions = True
            expect(item, lambda v: isinstance(v, list), "a sequence", tail, (*where, key), nullable=False)
            for position, entry in enumerate(item):
                expect_filter(entry, tail and position == len(item) - 1, (*where, key, position))
        else:
            has_property = True
    if has_conditions and has_property:
        raise ArgumentProblem("Cannot mix conditions with property filters", last, where)


def expect_sort(value, last, where):
    expect(value, lambda v: isinstance(v, list), "a sequence", last, where)
    for index, comparator in enumerate(value or ()):
        tail = last and index == len(value) - 1
        expect(comparator, lambda v: isinstance(v, dict), "a JMAP request object", tail, (*where, index),
               nullable=False)
        for position, (key, item) in enumerate(comparator.items()):
            end = tail and position == len(comparator) - 1
            if key == "property":
                expect(item, lambda v: isinstance(v, str), "a string", end, (*where, index, key), nullable=False)
            elif key == "isAscending":
                expect(item, lambda v: isinstance(v, bool), "a boolean", end, (*where, index, key), nullable=False)
            elif key == "collation":
                expect(item, lambda v: isinstance(v, str), "a string", end, (*where, index, key))


def expect_integer(value, last, kind, where):
    """An ``i32`` (position, anchorOffset) or ``usize`` (limit)."""
    if value is None:
        return
    if is_int(value):
        low, high = (-(1 << 31), (1 << 31) - 1) if kind == "i32" else (0, U64_MASK)
        if not low <= value <= high:
            raise ArgumentProblem(f"invalid value: {serde_value(value)}, expected {kind}", last, where)
        return
    expect(value, lambda v: False, kind, last, where)


def argument_problem(name, arguments):
    """The first argument of a known method the server cannot read, as an ``ArgumentProblem``,
    or None. A recoverable one is an ``invalidArguments`` of that call (with where the server's
    reader stopped: ``json_position``); otherwise the whole request is ``notRequest``.

    [APPROXIMATION] Which mistakes the server can read on after is inferred from the cases
    measured (a scalar, or the end of an object, with only closing brackets after it)."""
    if name == ECHO:
        return None
    keys = list(arguments)
    function = name.rsplit("/", 1)[1]
    references = {"get": ("ids", "properties"), "set": ("destroy",)}.get(function, ())
    try:
        for index, key in enumerate(keys):
            value, last, where = arguments[key], index == len(keys) - 1, (key,)
            if key == "accountId":
                expect(value, lambda v: isinstance(v, str), "a borrowed string", last, where, nullable=False)
            elif key.startswith("#") and key[1:] in references:
                expect_reference(value, last, where)
            elif function == "get" and key in ("ids", "properties"):
                expect_strings(value, "a string", last, where)
            elif function == "set" and key in ("create", "update"):
                expect(value, lambda v: isinstance(v, dict), "a valid map", last, where)
            elif function == "set" and key == "destroy":
                expect_strings(value, "a borrowed string", last, where)
            elif function == "set" and key == "ifInState":
                expect(value, lambda v: isinstance(v, str), "a string", last, where)
            elif function == "query" and key == "filter":
                expect_filter(value, last, where)
            elif function == "query" and key == "sort":
                expect_sort(value, last, where)
            elif function == "query" and key in ("position", "anchorOffset"):
                expect_integer(value, last, "i32", where)
            elif function == "query" and key == "limit":
                expect_integer(value, last, "usize", where)
            elif function == "query" and key == "anchor":
                expect(value, lambda v: isinstance(v, str), "a borrowed string", last, where)
            elif function == "query" and key == "calculateTotal":
                expect(value, lambda v: isinstance(v, bool), "a boolean", last, where)
    except ArgumentProblem as problem:
        return problem
    return None


class JsonNode:
    """A JSON value of the raw body with where it ends (for the server's error positions)."""

    __slots__ = ("end", "children")

    def __init__(self, end, children=None):
        self.end, self.children = end, children

    def child(self, step):
        """The member (an object key) or item (a list index) ``step``; the last of duplicates."""
        if isinstance(self.children, dict):
            return self.children.get(step)
        if isinstance(self.children, list) and isinstance(step, int) and step < len(self.children):
            return self.children[step]
        return None


def scan_json(raw: bytes):
    """Where each value of a (valid) JSON document ends: a tree of ``JsonNode``."""
    def skip(position):
        while position < len(raw) and raw[position] in b" \t\r\n":
            position += 1
        return position

    def string_end(position):  # position at the opening quote
        position += 1
        while raw[position] != 0x22:
            position += 2 if raw[position] == 0x5C else 1
        return position + 1

    def value(position):
        position = skip(position)
        char = raw[position]
        if char == 0x7B:  # {
            members, position = {}, skip(position + 1)
            while raw[position] != 0x7D:
                key_end = string_end(position)
                key = json.loads(raw[position:key_end])
                node = value(skip(key_end) + 1)
                members[key] = node
                position = skip(node.end)
                if raw[position] == 0x2C:
                    position = skip(position + 1)
            return JsonNode(position + 1, members)
        if char == 0x5B:  # [
            items, position = [], skip(position + 1)
            while raw[position] != 0x5D:
                node = value(position)
                items.append(node)
                position = skip(node.end)
                if raw[position] == 0x2C:
                    position = skip(position + 1)
            return JsonNode(position + 1, items)
        if char == 0x22:
            return JsonNode(string_end(position))
        while position < len(raw) and raw[position] not in b" \t\r\n,]}":
            position += 1
        return JsonNode(position)

    return value(0)


def json_position(raw: bytes, offset: int) -> str:
    """serde_json's " at line L column C" for the byte just before ``offset``."""
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1)
    return f" at line {line} column {column}"


class TaskCrash(Exception):
    """The server's request task panicked ([Errors and permissions]: an update value that is not an object): the
    connection is closed without an answer; what was written before stays written."""

    def __init__(self, committed):
        super().__init__("request task crashed")
        self.committed = committed


class QueryPage:
    """``QueryResponseBuilder`` (crates/jmap/src/api/query.rs): RFC 8620 paging over a sorted
    list, with the server's arithmetic (a ``limit`` of 0 returns everything but is echoed)."""

    def __init__(self, total, request, max_results):
        limit = request.get("limit")
        if limit is not None:
            effective = min(limit, max_results) if limit > 0 else 0
            self.limit = min(effective, total) if limit > 0 else 0
        else:
            effective = max_results
            self.limit = min(max_results, total)
        self.requested = self.position = request.get("position") or 0
        self.anchor = request.get("anchor")  # an int (unparseable: the invalid id), or None
        self.anchor_offset = request.get("anchorOffset") or 0
        self.anchor_found = False
        self.index = 0
        self.ids = []
        self.total = total if request.get("calculateTotal") is True else None
        self.echo_limit = effective if total > effective else None

    def add(self, value) -> bool:
        """One more id in sort order; False when the page is full."""
        if self.anchor is None:
            if self.position >= 0:
                if self.position > 0:
                    self.position -= 1
                else:
                    self.ids.append(value)
                    if len(self.ids) == self.limit:
                        return False
            else:
                self.ids.append(value)
            return True
        current = self.index
        self.index += 1
        if value == self.anchor:
            self.anchor_found = True
            self.position = max(current + self.anchor_offset, 0)
        if self.anchor_offset >= 0:
            if self.anchor_found and current >= self.position:
                self.ids.append(value)
                if self.limit > 0 and len(self.ids) == self.limit:
                    return False
        else:
            self.ids.append(value)
            if self.anchor_found and self.limit > 0 and len(self.ids) >= self.position + self.limit:
                return False
        return True

    def build(self, account_id):
        ids = self.ids
        if self.anchor is not None:
            if not self.anchor_found:
                raise MethodError("anchorNotFound", ANCHOR_NOT_FOUND)
            position = max(self.position, 0)
            if self.anchor_offset < 0:
                start = min(position, len(ids))
                end = min(start + self.limit, len(ids)) if self.limit > 0 else len(ids)
                ids = ids[start:end]
        elif self.requested >= 0:
            position = self.requested if self.position == 0 else 0
        else:
            back = -self.requested
            position = len(ids) - back if back < len(ids) else 0
            end = min(position + self.limit, len(ids)) if self.limit > 0 else len(ids)
            ids = ids[position:end]
        result = {"accountId": account_id, "queryState": "n", "canCalculateChanges": True, "position": position,
                  "ids": [encode_id(value) for value in ids]}
        if self.total is not None:
            result["total"] = self.total
        if self.echo_limit is not None:
            result["limit"] = self.echo_limit
        return result


class Paging:
    """``ResultsPagination`` of the registry store: an offset, an anchor (skip up to and including
    it) and a limit applied while an index is scanned, or afterwards in id order when more than
    one filter is intersected."""

    def __init__(self, offset=0, anchor=None, limit=None, deferred=False):
        self.offset, self.anchor, self.limit, self.deferred = offset, anchor, limit, deferred
        self.ids = []

    def push(self, value) -> bool:
        if self.deferred:
            self.ids.append(value)
            return True
        if self.offset > 0:
            self.offset -= 1
            return True
        if self.anchor is not None:
            if value == self.anchor:
                self.anchor = None
            return True
        self.ids.append(value)
        return self.limit is None or len(self.ids) < self.limit

    def finalize(self) -> list:
        if self.deferred and self.ids and (self.limit is not None or self.anchor is not None or self.offset > 0):
            collected, self.ids, self.deferred = self.ids, [], False
            for value in collected:
                if not self.push(value):
                    break
        return self.ids


FILTER_OPERATORS = {"": "eq", "GreaterThan": "gt", "GreaterThanOrEqual": "ge", "LessThan": "lt",
                    "LessThanOrEqual": "le"}
COMPARE = {"eq": lambda a, b: a == b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
           "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}


def flatten_filter(condition, out):
    """``FilterMapCollector``: a filter object as the server's flat list of ("property", key,
    value), "and", "or", "not" and "close" items (the structure was checked by parse_request)."""
    if not isinstance(condition, dict):
        return out
    single, several, conditions_at, operator = None, False, None, None
    for key, value in condition.items():
        if key == "operator":
            if conditions_at is not None:
                out[conditions_at] = value.lower()
            else:
                operator = value.lower()
        elif key == "conditions":
            conditions_at = len(out)
            out.append(operator or "and")
            operator = None
            for item in value:
                flatten_filter(item, out)
            out.append("close")
        else:
            if single is not None:
                if not several:
                    out.append("and")
                    several = True
                out.append(single)
            single = ("property", key, value)
    if single is not None:
        out.append(single)
        if several:
            out.append("close")
    return out


def filter_property(key):
    """A filter key as the server reads it: (property, operator), or None for a key it does not
    know (``nameIsGreaterThan`` is ``name`` with ``GreaterThan``)."""
    if key in REGISTRY_PROPERTIES:
        return key, "eq"
    head, separator, tail = key.rpartition("Is")
    if separator and head in REGISTRY_PROPERTIES and tail in FILTER_OPERATORS and tail:
        return head, FILTER_OPERATORS[tail]
    return None


class Simulator:
    """All state of one simulated server; JMAP requests are processed under ``lock``, one at a
    time, like the server's per-request sequential processing."""

    def __init__(self, dialect="server", limits=None, seed=True, state_file=None, tokens=None):
        self.lock = threading.RLock()
        self.initial_dialect = dialect
        self.initial_limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.dialect = dialect
        self.limits = dict(self.initial_limits)
        self.state_file = state_file
        self.ids = IdGenerator()
        self.strategies: dict[int, dict] = {}
        self.outbound = default_outbound()
        # The singleton is "stored" once written (/get of "singleton" shows the stored value, not
        # the defaults) and "listed" once an update wrote it (a /get with ids null lists only then).
        self.outbound_stored = self.outbound_listed = False
        self.reloads = 0
        self.in_flight = {}  # account number -> its requests being served (maxConcurrentRequests)
        self.stats = empty_stats()
        self.faults: list[dict] = []
        self.refusals: dict[str, dict | None] = {}  # name -> SetError (None: DEFAULT_REFUSAL)
        # GET /_sim/log: when each request arrived (seconds since start-up, monotonic), so tests
        # can see a client's waits without timing a whole process
        self.started = time.monotonic()
        self.log: list[dict] = []
        self.tokens = {
            "admin-token": Account("admin@example.com", 1, ALL_PERMISSIONS),
            "readonly-token": Account("readonly@example.com", 2, READONLY_PERMISSIONS),
            # may use the API (authenticate), nothing else: each method is forbidden
            "noperm-token": Account("noperm@example.com", 3, ("authenticate",)),
            "nooutbound-token": Account("nooutbound@example.com", 4, PERMISSION_PRESETS["nooutbound"]),
        }
        for index, (token, permissions) in enumerate((tokens or {}).items()):
            self.tokens[token] = Account(f"token{index + 1}@example.com", 10 + index, permissions)
        # Basic logins; the second one's password is not ASCII: the server decodes the credentials
        # as UTF-8 (checked on Stalwart 0.16.19: the Latin-1 form of the same password gets 401)
        self.users = {"admin@example.com": ("admin-password", self.tokens["admin-token"]),
                      "utf8@example.com": ("pässwörd-€-utf8", Account("utf8@example.com", 5, ALL_PERMISSIONS))}
        if state_file and os.path.exists(state_file):
            self.load()
        if seed and not self.strategies:
            # [MtaConnectionStrategy]: created at start-up when no strategy exists, so also on a restart after every
            # strategy was deleted
            self.seed_default()
            self.save()

    # -- persistence -------------------------------------------------------------------------

    def load(self):
        """Restore objects, outbound strategy, reload count and the id clock from the state file."""
        with open(self.state_file, encoding="utf-8") as handle:
            saved = json.load(handle)
        self.strategies = {decode_id(item["id"]): {key: item[key] for key in PROPERTY_ORDER}
                           for item in saved.get("strategies", [])}
        self.outbound = {**default_outbound(), **(saved.get("outbound") or {})}
        self.outbound_stored = saved.get("outbound_stored", saved.get("outbound") is not None)
        self.outbound_listed = saved.get("outbound_listed", False)
        self.reloads = saved.get("reloads", 0)
        self.ids.last = max([saved.get("last_id", 0), *self.strategies])

    def save(self):
        """Write the state file atomically (temporary file, then rename) if one is configured."""
        if not self.state_file:
            return
        snapshot = {"strategies": [{**self.strategies[key], "id": encode_id(key)}
                                   for key in sorted(self.strategies)],
                    "outbound": self.outbound, "outbound_stored": self.outbound_stored,
                    "outbound_listed": self.outbound_listed, "reloads": self.reloads, "last_id": self.ids.last}
        temporary = f"{self.state_file}.tmp{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(snapshot, handle, indent=1)
        os.replace(temporary, self.state_file)

    # -- control surface ---------------------------------------------------------------------

    def seed_default(self):
        """The auto-created ``default`` strategy ([MtaConnectionStrategy])."""
        stored = default_strategy()
        stored.update(name="default", description="Default connection strategy")
        self.strategies[self.ids.next()] = stored

    def reset(self, body: dict):
        """``POST /_sim/reset``: clear objects, stats and faults; restore the start-up limits and
        dialect; then apply the body (seed, objects, outbound, limits). An ``outbound`` in the body
        is patched onto the defaults and stored as if an update had written it."""
        if not isinstance(body, dict):
            raise ValueError("the reset body must be a JSON object")
        self.dialect = self.initial_dialect
        self.limits = dict(self.initial_limits)
        self.limits.update(self.checked_limits(body.get("limits") or {}))
        self.strategies, self.outbound, self.reloads = {}, default_outbound(), 0
        self.outbound_stored = self.outbound_listed = False
        self.stats, self.faults, self.log = empty_stats(), [], []
        self.refusals = {}
        if body.get("seed_default", True):
            self.seed_default()
        for index, item in enumerate(body.get("objects") or []):
            try:
                stored = patch_create(STRATEGY, default_strategy(), item, self.dialect)
                validate_strategy(stored)
                self.check_unique(stored["name"])
            except SetError as error:
                raise ValueError(f"objects[{index}] refused: {json.dumps(error.to_json())}") from None
            stored["sourceIps"] = renumbered(stored["sourceIps"])
            self.strategies[self.ids.next()] = stored
        if body.get("outbound") is not None:
            try:
                outbound = patch_create(OUTBOUND, default_outbound(), body["outbound"], self.dialect)
                error = outbound_expressions_error(outbound)
                if error is not None:
                    raise error
            except SetError as error:
                raise ValueError(f"outbound refused: {json.dumps(error.to_json())}") from None
            self.outbound = stored_outbound(outbound)
            self.outbound_stored = self.outbound_listed = True
        self.save()

    @staticmethod
    def checked_limits(limits: dict) -> dict:
        """Only the known limits (``DEFAULT_LIMITS``), as positive integers."""
        checked = {}
        for key, value in limits.items():
            if key not in DEFAULT_LIMITS or not is_int(value) or value < 1:
                raise ValueError(f"bad limit {key}={value!r}")
            checked[key] = value
        return checked

    def configure(self, body: dict) -> dict:
        """``POST /_sim/config``: change limits and the dialect live."""
        if not isinstance(body, dict):
            raise ValueError("the config body must be a JSON object")
        dialect = body.get("dialect", self.dialect)
        if dialect not in ("server", "docs"):
            raise ValueError(f"unknown dialect {dialect!r}")
        self.limits.update(self.checked_limits({k: v for k, v in body.items() if k != "dialect"}))
        self.dialect = dialect
        return self.config()

    def config(self) -> dict:
        """Current limits and dialect."""
        return {**self.limits, "dialect": self.dialect}

    def objects(self) -> dict:
        """``GET /_sim/objects``: everything stored, in /get form, ascending id."""
        return {"strategies": [wire_strategy(self.strategies[key], encode_id(key), self.dialect)
                               for key in sorted(self.strategies)],
                "outbound": copy.deepcopy(self.outbound), "reloads": self.reloads}

    def check_refused(self, name):
        """A test knob, not server behaviour: ``POST /_sim/refuse`` names strategies whose creates
        and updates are refused with a given SetError, for the refusals a client cannot foresee
        (a server whose rules differ from the client's: an older Public Suffix List, say)."""
        if name in self.refusals:
            error = self.refusals[name] or DEFAULT_REFUSAL
            raise SetError(error.get("type", "invalidPatch"), error.get("description"), error.get("properties"),
                           **{key: value for key, value in error.items()
                              if key not in ("type", "description", "properties")})

    def check_unique(self, name, ignore=None):
        """``primaryKeyViolation`` naming the existing object ([Errors and permissions]; not ``existingId``)."""
        for key, stored in self.strategies.items():
            if key != ignore and stored["name"] == name:
                raise SetError("primaryKeyViolation", properties=["name"],
                               objectId={"object": OBJECT, "id": encode_id(key)})

    # -- session -----------------------------------------------------------------------------

    def session(self, base: str, account: Account | None) -> dict:
        """The session resource ([Endpoints and dialects]); anonymous when ``account`` is None.

        [APPROXIMATION] The real server lists many more capabilities (mail, calendars, contacts,
        sieve, ...) in ``capabilities``, ``accountCapabilities`` and ``primaryAccounts``; only the
        ones a management client looks at are here."""
        core = {"maxSizeUpload": 50_000_000, "maxConcurrentUpload": 4,
                "maxSizeRequest": self.limits["maxSizeRequest"],
                "maxConcurrentRequests": self.limits["maxConcurrentRequests"],
                "maxCallsInRequest": self.limits["maxCallsInRequest"],
                "maxObjectsInGet": self.limits["maxObjectsInGet"],
                "maxObjectsInSet": self.limits["maxObjectsInSet"],
                "collationAlgorithms": ["i;ascii-numeric", "i;ascii-casemap", "i;unicode-casemap"]}
        ws_base = "wss" + base[len("https"):] if base.startswith("https") else "ws" + base[len("http"):]
        accounts, primary = {}, {}
        if account is not None:
            accounts[account.id] = {"name": account.name, "isPersonal": True, "isReadOnly": False,
                                    "accountCapabilities": {STALWART: {}}}
            primary[STALWART] = account.id
        return {
            "capabilities": {CORE: core, "urn:ietf:params:jmap:mail": {},
                             "urn:ietf:params:jmap:websocket": {"url": f"{ws_base}/jmap/ws",
                                                                "supportsPush": True}},
            "accounts": accounts, "primaryAccounts": primary,
            "username": account.name if account else "",
            "apiUrl": f"{base}/jmap/",
            "downloadUrl": f"{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}",
            "uploadUrl": f"{base}/jmap/upload/{{accountId}}/",
            "eventSourceUrl": f"{base}/jmap/eventsource/?types={{types}}&closeafter={{closeafter}}&ping={{ping}}",
            "state": account.state if account else "0",
        }

    # -- JMAP request ------------------------------------------------------------------------

    def parse_request(self, raw: bytes) -> dict:
        """Parse and check the Request object ([Requests and answers], [Requests and answers]); raises ``RequestError``. The
        arguments of a known method are checked as the server's deserializer reads them: a
        mistake there is a ``notRequest`` for the whole request, or an ``invalidArguments`` of that
        call when the server can read on after it (``argument_problems``)."""
        def not_request():
            return RequestError(400, "urn:ietf:params:jmap:error:notRequest",
                                raw.decode("utf-8", "replace"))
        try:
            request = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise not_request() from None
        if not isinstance(request, dict) or "using" not in request or "methodCalls" not in request:
            raise not_request()
        using, calls = request.get("using"), request.get("methodCalls")
        if not isinstance(using, list) or not all(isinstance(uri, str) for uri in using):
            raise not_request()
        if any(uri not in KNOWN_CAPABILITIES for uri in using):
            raise not_request()
        if not isinstance(calls, list) or not all(
                isinstance(call, list) and len(call) == 3 and isinstance(call[0], str)
                and isinstance(call[2], str) and (call[0] not in KNOWN_METHODS or isinstance(call[1], dict))
                for call in calls):
            raise not_request()
        created = request.get("createdIds")
        if created is not None:
            if not isinstance(created, dict) or not all(canonical_id(value) is not None for value in created.values()):
                raise not_request()
            # the server keeps them as ids: written back re-encoded ("abc" → "bc")
            request["createdIds"] = {key: canonical_id(value) for key, value in created.items()}
        request["invalid"] = {}
        for index, (name, arguments, _call_id) in enumerate(calls):
            if name in KNOWN_METHODS:
                problem = argument_problem(name, arguments)
                if problem is not None:
                    if not problem.recoverable:
                        raise not_request()
                    node = scan_json(raw).child("methodCalls").child(index).child(1)
                    for step in problem.where:
                        node = node.child(step)
                    request["invalid"][index] = problem.message + json_position(raw, node.end + problem.after)
        if len(calls) > self.limits["maxCallsInRequest"]:
            raise RequestError(400, "urn:ietf:params:jmap:error:limit",
                               "The request exceeds the maximum number of calls in a single request.",
                               limit="maxCallsInRequest")
        return request

    def process(self, request: dict, account: Account) -> tuple[dict, bool]:
        """Run every method call in order; returns the Response object and whether anything was
        committed (for the state file). Raises ``TaskCrash`` when the server's task would panic."""
        created_ids = dict(request.get("createdIds") or {})
        responses = []
        self.committed = False
        self.stats["max_calls_in_one_post"] = max(self.stats["max_calls_in_one_post"],
                                                  len(request["methodCalls"]))
        using = request["using"]
        for index, (name, arguments, call_id) in enumerate(request["methodCalls"]):
            counts = self.stats["method_calls"]
            counts[name] = counts.get(name, 0) + 1
            try:
                if name not in KNOWN_METHODS:
                    raise MethodError("unknownMethod", name)
                if index in request["invalid"]:
                    raise MethodError("invalidArguments", request["invalid"][index])
                arguments = self.resolve_references(name, arguments, responses, created_ids)
                if name == ECHO and CORE not in using:
                    raise MethodError("unknownMethod", f"Method {name} requires capability {CORE} which is not "
                                                       "present in the \"using\" property.")
                result = self.call(name, arguments, account, created_ids)
                responses.append([name, result, call_id])
            except MethodError as error:
                responses.append(["error", error.to_json(), call_id])
            except TaskCrash:
                raise TaskCrash(self.committed) from None
        response = {"methodResponses": responses, "sessionState": account.state}
        if request.get("createdIds") is not None and created_ids:
            response["createdIds"] = created_ids
        return response, self.committed

    # -- references ([Query and references]) ---------------------------------------------------------------------

    @staticmethod
    def resolve_references(name, arguments, responses, created_ids):
        """Result references and creation ids, as the server resolves them before a call runs.
        Of ``ids`` and ``#ids`` (and the other pairs) the one that comes last wins, as when the
        server reads the arguments in order."""
        resolved = dict(arguments)
        for key in ("ids", "properties", "destroy"):
            last = None
            for present in arguments:
                if present in (key, "#" + key):
                    last = present
            if last is None:
                continue
            resolved.pop(key, None)
            resolved.pop("#" + key, None)
            if last == key:
                resolved[key] = arguments[key]
                continue
            reference = arguments[last]
            found = Simulator.evaluate(reference, responses)
            if key == "properties":
                if found:
                    raise MethodError("invalidResultReference",
                                      f"Failed to evaluate {reference_text(reference)} result reference: "
                                      "Invalid property.")
                resolved[key] = []
            else:
                resolved[key] = [("id", value) for _kind, value in found]
        if name.endswith("/get") and isinstance(resolved.get("ids"), list):
            ids = []
            for entry in resolved["ids"]:
                if isinstance(entry, tuple):
                    ids.append(decode_id(entry[1]))
                elif entry.startswith("#") and len(entry) > 1:
                    if entry[1:] not in created_ids:
                        raise MethodError("invalidResultReference",
                                          f"Id reference {rust_debug(entry[1:])} does not exist or is invalid.")
                    ids.append(decode_id(created_ids[entry[1:]]))
                else:
                    ids.append(decode_id(entry) if decode_id(entry) is not None else ("invalid", entry))
            resolved["ids"] = ids
        if name.endswith("/set") and isinstance(resolved.get("destroy"), list):
            resolved["destroy"] = [decode_id(entry[1]) if isinstance(entry, tuple) else decode_id(entry)
                                   for entry in resolved["destroy"]]
        return resolved

    @staticmethod
    def evaluate(reference, responses):
        """The ids a result reference yields; ``invalidResultReference`` when no response with that
        call id and name can be evaluated on that path (an errored call is named ``error``)."""
        items = parse_pointer(reference["path"])
        for response_name, result, call_id in responses:
            if call_id == reference["resultOf"] and response_name == reference["name"]:
                try:
                    return evaluate_reference(response_name, result, items)
                except ReferenceNotFound:
                    continue
        raise MethodError("invalidResultReference",
                          f"Result reference to {reference['resultOf']}#{reference['name']} not found.")

    # -- dispatch ------------------------------------------------------------------------------

    def call(self, name, arguments, account, created_ids):
        """Dispatch one method call: its permission, then its ``accountId``, then the method."""
        if name == ECHO:
            return arguments
        object_name, function = name[2:].split("/")
        prefix = f"sys{object_name}"
        if function == "set":
            self.check_set_permissions(account, arguments, prefix)
        else:
            self.require(account, prefix + function.capitalize())
        account_id = self.account_id(arguments, account)
        handler = getattr(self, f"{function}_{object_name}")
        return handler(arguments, account, account_id, created_ids)

    @staticmethod
    def require(account, permission):
        """Method-level ``forbidden`` when ``permission`` is missing ([Errors and permissions])."""
        if permission not in account.permissions:
            raise MethodError("forbidden", METHOD_FORBIDDEN)

    @staticmethod
    def account_id(arguments, account) -> str:
        """The ``accountId`` a call works in, as the server writes it back: an unparseable (or
        absent) one is the caller's own; another account needs the ``impersonate`` permission,
        which the administrator has ([Requests and answers]). Measured with the administrator's key and with keys
        without that permission; the built-in tokens other than ``admin-token`` have accounts of
        their own here, where on a real server every key is its user's."""
        value = decode_id(arguments.get("accountId"))
        if value is None or value >= INVALID_ACCOUNT_ID:
            return account.id
        if value != account.number and "impersonate" not in account.permissions:
            raise MethodError("forbidden", f"You are not an owner of account {encode_id(value)}")
        return encode_id(value)

    @staticmethod
    def check_set_permissions(account, arguments, prefix):
        """[Errors and permissions]: none of create/update/destroy → forbidden even for an empty /set; otherwise a
        missing permission for a non-empty section."""
        granted = {verb: f"{prefix}{verb.capitalize()}" in account.permissions
                   for verb in ("create", "update", "destroy")}
        if not any(granted.values()):
            raise MethodError("forbidden",
                              "You are not authorized to create, update or destroy objects of this type")
        for verb in ("create", "update", "destroy"):
            if arguments.get(verb) and not granted[verb]:
                raise MethodError("forbidden", f"You are not authorized to {verb} objects of this type")

    def check_set_size(self, arguments):
        """``requestTooLarge`` over maxObjectsInSet (create + update + destroy, as sent)."""
        if sum(len(arguments.get(verb) or ()) for verb in ("create", "update", "destroy")) \
                > self.limits["maxObjectsInSet"]:
            raise MethodError("requestTooLarge", REQUEST_TOO_LARGE)

    def get_ids(self, arguments):
        """(valid ids or None for "all", invalid texts), with the maxObjectsInGet check."""
        ids = arguments.get("ids")
        if ids is None:
            return None, []
        if len(ids) > self.limits["maxObjectsInGet"]:
            raise MethodError("requestTooLarge", REQUEST_TOO_LARGE)
        return ([value for value in ids if not isinstance(value, tuple)],
                [value[1] for value in ids if isinstance(value, tuple)])

    @staticmethod
    def properties_argument(arguments):
        """The ``properties`` filter: None means all. Names that are not registry properties are
        dropped; then an empty list means all ([Requests and answers]'s quirk), otherwise ``id`` is added. A
        registry name the object does not have (``text``) counts, so ``["text"]`` gives only ids."""
        wanted = {name for name in arguments.get("properties") or () if name in REGISTRY_PROPERTIES}
        return (wanted | {"id"}) if wanted else None

    # -- x:MtaConnectionStrategy ---------------------------------------------------------------

    def get_MtaConnectionStrategy(self, arguments, account, account_id, created_ids):
        """[Requests and answers]: notFound lists the unparseable ids first (as sent), then the unknown ones
        (re-encoded)."""
        valid, not_found = self.get_ids(arguments)
        properties = self.properties_argument(arguments)
        if valid is None:
            valid = sorted(self.strategies)[: self.limits["maxObjectsInGet"]]
        listing = []
        for value in valid:
            if value in self.strategies:
                listing.append(wire_strategy(self.strategies[value], encode_id(value), self.dialect, properties))
            else:
                not_found.append(encode_id(value))
        return {"accountId": account_id, "list": listing, "notFound": not_found}

    def set_sections(self, arguments):
        """create, the parseable update keys (re-encoded) and destroy ids; unparseable ids (``#n1``
        included) are dropped silently ([Objects, ids and lists])."""
        create = arguments.get("create") or {}
        update = [(decode_id(key), value) for key, value in (arguments.get("update") or {}).items()
                  if decode_id(key) is not None]
        destroy = [value for value in arguments.get("destroy") or () if value is not None]
        return create, update, destroy

    def set_MtaConnectionStrategy(self, arguments, account, account_id, created_ids):
        """[Errors and permissions]: creates (request order), then updates, then destroys; empty maps omitted."""
        self.check_set_size(arguments)
        create, update, destroy = self.set_sections(arguments)
        self.count_set(create or update or destroy)
        created, not_created, updated, not_updated = {}, {}, {}, {}
        destroyed, not_destroyed = [], {}
        pending = []
        for value, patch in update:
            if value in destroy:
                not_updated[encode_id(value)] = SetError("willDestroy", "ID will be destroyed.").to_json()
            else:
                pending.append((value, patch))
        for value, _patch in pending:
            if value not in self.strategies:
                not_updated[encode_id(value)] = SetError("notFound").to_json()
        for client_id, body in create.items():
            try:
                body = resolve_key_references(body, created_ids)
                stored = patch_create(STRATEGY, default_strategy(), body, self.dialect)
                validate_strategy(stored)
                self.check_unique(stored["name"])
                self.check_refused(stored["name"])
            except SetError as error:
                not_created[client_id] = error.to_json()
                continue
            key = self.ids.next()
            stored["sourceIps"] = renumbered(stored["sourceIps"])
            self.strategies[key] = stored
            created[client_id] = {"id": encode_id(key)}
            created_ids[client_id] = encode_id(key)
            self.stats["objects_created"] += 1
            self.committed = True
        for value, patch in pending:
            if value not in self.strategies:
                continue
            if not isinstance(patch, dict):
                # [Errors and permissions]: the server unwrap()s the update value as an object and its task panics
                raise TaskCrash(self.committed)
            try:
                patch = resolve_key_references(patch, created_ids)
                stored = patch_update(STRATEGY, self.strategies[value], patch, self.dialect)
                validate_strategy(stored)
                self.check_refused(stored["name"])
            except SetError as error:
                not_updated[encode_id(value)] = error.to_json()
                continue
            stored["sourceIps"] = renumbered(stored["sourceIps"])
            if stored != self.strategies[value]:
                # Nothing is written when nothing changed; the answer is the same ([Errors and permissions]).
                self.strategies[value] = stored
                self.stats["objects_updated"] += 1
                self.committed = True
            updated[encode_id(value)] = None
        for value in destroy:
            if value in self.strategies:
                del self.strategies[value]
                destroyed.append(encode_id(value))
                self.stats["objects_destroyed"] += 1
                self.committed = True
            else:
                not_destroyed[encode_id(value)] = SetError("notFound").to_json()
        result = {"accountId": account_id}
        self.answer_set(result, created=created, updated=updated, destroyed=destroyed, notCreated=not_created,
                        notUpdated=not_updated, notDestroyed=not_destroyed)
        return result

    def count_set(self, writes):
        self.stats["set_calls"] += 1
        if writes:
            self.stats["writes"] += 1

    def answer_set(self, result, **sections):
        """Put the sections of a ``/set`` response into ``result``, omitting the empty ones
        ([Errors and permissions]), and count its SetErrors by type in the stats (``set_errors``)."""
        counts = self.stats["set_errors"]
        for label, section in sections.items():
            if label.startswith("not"):
                for error in section.values():
                    kind = error.get("type", "?") if isinstance(error, dict) else "?"
                    counts[kind] = counts.get(kind, 0) + 1
            if section:
                result[label] = section

    def query_MtaConnectionStrategy(self, arguments, account, account_id, created_ids):
        """[Query and references], as the server runs it: filters (AND only, on ``name``), one comparator, and the
        limit pushdown: sorted by id without ``calculateTotal``, with ``anchorOffset`` 0 and
        ``position`` absent or > 0, the offset, anchor and limit are applied to an ascending scan
        of the index (of the names when filtered) and the page is then sorted; the response then
        has ``position`` 0, no ``limit`` and never an ``anchorNotFound``."""
        conditions = self.query_conditions(arguments.get("filter"), account)
        sort = arguments.get("sort") or []
        comparator = sort[0] if sort else {"property": "id", "isAscending": False}
        prop = comparator.get("property", "")
        ascending = comparator.get("isAscending", True)
        if prop not in REGISTRY_PROPERTIES:
            raise MethodError("unsupportedSort", f"Property {prop} is not supported for sorting")
        request = {key: arguments.get(key) for key in ("position", "anchor", "anchorOffset", "limit",
                                                       "calculateTotal")}
        if request["anchor"] is not None:
            request["anchor"] = decode_id(request["anchor"])
            if request["anchor"] is None:
                request["anchor"] = U64_MASK  # an unparseable anchor is an id that does not exist
        pushdown = (prop == "id" and request["calculateTotal"] is not True and not request["anchorOffset"]
                    and (request["position"] is None or request["position"] > 0))
        scan = {}
        if pushdown:
            limit = request["limit"]
            max_results = self.limits["queryMaxResults"]
            scan = {"limit": max_results if limit is None else min(limit, max_results),
                    "anchor": request["anchor"],
                    "offset": request["position"] if request["anchor"] is None and request["position"] else 0}
            request = {"calculateTotal": request["calculateTotal"]}
        matches = None
        if conditions or prop == "id":
            matches = self.scan(conditions, **scan)
            if not matches:
                return QueryPage(0, request, self.limits["queryMaxResults"]).build(account_id)
        if prop == "id":
            results = sorted(matches, reverse=not ascending)
        elif prop == "name":
            candidates = self.strategies if matches is None else matches
            results = sorted(candidates, key=lambda key: self.strategies[key]["name"].encode(), reverse=not ascending)
        else:
            raise MethodError("unsupportedSort", f"Property {prop} is not supported for sorting")
        page = QueryPage(len(results), request, self.limits["queryMaxResults"])
        for value in results:
            if not page.add(value):
                break
        return page.build(account_id)

    def query_conditions(self, condition, account) -> list:
        """The filter as (operator, name) conditions; ``unsupportedFilter`` as the server says it."""
        conditions = []
        for item in flatten_filter(condition, []):
            if item in ("and", "close"):
                continue
            if item in ("or", "not"):
                raise MethodError("unsupportedFilter", "Only AND is supported in filters")
            _kind, key, value = item
            parsed = filter_property(key)
            if parsed is None:
                raise MethodError("unsupportedFilter", key)
            name, operator = parsed
            if name == "accountId" and "impersonate" not in account.permissions:
                continue  # the server adds its own account filter instead
            if name != "name" or not isinstance(value, str):
                raise MethodError("unsupportedFilter", f"Filter on property {name} is not supported or invalid")
            conditions.append((operator, value.encode("utf-8", "surrogatepass")))
        return conditions

    def scan(self, conditions, offset=0, anchor=None, limit=None) -> list:
        """The store's query: every id ascending, or each condition's matches in name order
        (intersected, in id order, when there are several), with the offset, anchor and limit."""
        if not conditions:
            keys = sorted(self.strategies)
            if anchor is not None:
                keys = [key for key in keys if key > anchor] if anchor < U64_MASK else keys
            keys = keys[offset:]
            if limit is not None:
                keys = keys[: max(limit, 1)]
            return keys
        deferred = len(conditions) > 1
        by_name = sorted(self.strategies, key=lambda key: self.strategies[key]["name"].encode("utf-8", "surrogatepass"))
        results = None
        for operator, value in conditions:
            paging = Paging(offset, anchor, limit, deferred)
            for key in by_name:
                if COMPARE[operator](self.strategies[key]["name"].encode("utf-8", "surrogatepass"), value):
                    if not paging.push(key):
                        break
            paging.ids.sort()
            if results is None or not results.ids:
                results = paging
            else:
                results.ids = [key for key in results.ids if key in set(paging.ids)]
            if not results.ids:
                break
        return results.finalize()

    # -- x:MtaOutboundStrategy -----------------------------------------------------------------

    def outbound_wire(self, properties=None) -> dict:
        return wire_object(self.outbound, SINGLETON_ID, tuple(OUTBOUND.fields), properties)

    def get_MtaOutboundStrategy(self, arguments, account, account_id, created_ids):
        """The singleton ([MtaOutboundStrategy]): ``ids`` null lists it only once an update has written it; asked for
        by id (``singleton``) it is always there, with its defaults until written."""
        valid, not_found = self.get_ids(arguments)
        properties = self.properties_argument(arguments)
        if valid is None:
            valid = [SINGLETON_VALUE] if self.outbound_listed else []
        listing = []
        for value in valid:
            if value == SINGLETON_VALUE:
                listing.append(self.outbound_wire(properties))
            else:
                not_found.append(encode_id(value))
        return {"accountId": account_id, "list": listing, "notFound": not_found}

    def set_MtaOutboundStrategy(self, arguments, account, account_id, created_ids):
        """The singleton cannot be created or destroyed: a create patches the defaults and writes
        them (``created`` with id ``singleton``), a destroy of any id is refused. An update patches
        the stored value (objects merge); the expressions are compiled before the write. The server
        reads the singleton once per call: a second write in one call fails the method
        (``serverUnavailable``), the first one stays.

        [ASSUMPTION] Measured: a create and an update that both change it, and two creates over a
        stored singleton; any other second write is taken to fail alike. A create over a stored
        singleton is taken to list it for ``ids`` null as an update does (measured: a create over a
        never-written one does not)."""
        self.check_set_size(arguments)
        create, update, destroy = self.set_sections(arguments)
        self.count_set(create or update or destroy)
        created, not_created, updated, not_updated = {}, {}, {}, {}
        not_destroyed = {encode_id(value): SetError("singleton", SINGLETON_REFUSAL).to_json() for value in destroy}
        pending = []
        for value, patch in update:
            if value == SINGLETON_VALUE:
                pending.append(patch)
            else:
                not_updated[encode_id(value)] = SetError("notFound").to_json()
        was_stored, read = self.outbound_stored, copy.deepcopy(self.outbound)
        written = False
        modifications = [("create", client_id, body) for client_id, body in create.items()]
        modifications += [("update", SINGLETON_ID, patch) for patch in pending]
        for kind, label, body in modifications:
            if kind == "update" and not isinstance(body, dict):
                raise TaskCrash(self.committed)
            try:
                body = resolve_key_references(body, created_ids)
                if kind == "create":
                    new = patch_create(OUTBOUND, default_outbound(), body, self.dialect)
                else:
                    new = patch_update(OUTBOUND, read, body, self.dialect)
                error = outbound_expressions_error(new) or outbound_size_error(new)
                if error is not None:
                    raise error
            except SetError as error:
                (not_created if kind == "create" else not_updated)[label] = error.to_json()
                continue
            new = stored_outbound(new)
            if new != read or (kind == "create" and not was_stored):
                if written:
                    raise MethodError("serverUnavailable", SERVER_UNAVAILABLE)
                written = True
                self.outbound, self.outbound_stored = new, True
                # an update's write (or a create's over a stored singleton) lists it for ids null
                self.outbound_listed = self.outbound_listed or kind == "update" or was_stored
                self.committed = True
            if kind == "create":
                created[label] = {"id": SINGLETON_ID}
                created_ids[label] = SINGLETON_ID
            else:
                updated[label] = None
        result = {"accountId": account_id}
        self.answer_set(result, created=created, updated=updated, notCreated=not_created, notUpdated=not_updated,
                        notDestroyed=not_destroyed)
        return result

    # -- x:Action ------------------------------------------------------------------------------

    def get_Action(self, arguments, account, account_id, created_ids):
        """Actions are not stored: every id is notFound."""
        valid, not_found = self.get_ids(arguments)
        return {"accountId": account_id, "list": [], "notFound": not_found + [encode_id(v) for v in valid or ()]}

    def query_Action(self, arguments, account, account_id, created_ids):
        raise MethodError("invalidArguments", "Actions cannot be queried")

    def set_Action(self, arguments, account, account_id, created_ids):
        """Only ``create {"@type": "ReloadSettings"}`` ([Reload]) is simulated, counted in ``reloads``;
        its id is the current time in seconds, as on the server. Updates and destroys are refused
        per item.

        [APPROXIMATION] The server has more action types (ReloadTlsCertificates,
        InvalidateCaches, ...); here any other ``@type`` is refused like an unknown one."""
        self.check_set_size(arguments)
        create, update, destroy = self.set_sections(arguments)
        self.count_set(create)
        created, not_created = {}, {}
        # an update of an id that is also destroyed is willDestroy before the action refuses it
        not_updated = {encode_id(value): (SetError("willDestroy", "ID will be destroyed.") if value in destroy
                                          else SetError("forbidden", "Actions cannot be updated")).to_json()
                       for value, _patch in update}
        not_destroyed = {encode_id(value): SetError("forbidden", "Actions cannot be destroyed").to_json()
                         for value in destroy}
        for client_id, body in create.items():
            if not isinstance(body, dict) or body.get("@type") != "ReloadSettings":
                not_created[client_id] = SetError("invalidPatch", "Missing or invalid '@type' property in object",
                                                  [""]).to_json()
                continue
            if "actionReloadSettings" not in account.permissions:
                not_created[client_id] = SetError(
                    "forbidden", "Insufficient permissions to perform action of type ReloadSettings").to_json()
                continue
            self.reloads += 1
            self.stats["reloads"] += 1
            action_id = encode_id(int(time.time()))
            created[client_id] = {"id": action_id}
            created_ids[client_id] = action_id
            self.committed = True
        result = {"accountId": account_id}
        self.answer_set(result, created=created, notCreated=not_created, notUpdated=not_updated,
                        notDestroyed=not_destroyed)
        return result


def is_write_request(request) -> bool:
    """A JMAP request containing a /set with a non-empty create, update or destroy (or a
    ``#destroy`` reference), or an Action create: the ``write`` class of faults."""
    if not isinstance(request, dict) or not isinstance(request.get("methodCalls"), list):
        return False
    for call in request["methodCalls"]:
        if not (isinstance(call, list) and len(call) == 3 and isinstance(call[0], str)
                and isinstance(call[1], dict)):
            continue
        if call[0].endswith("/set") and (call[1].get("create") or call[1].get("update")
                                         or call[1].get("destroy") or call[1].get("#destroy")):
            return True
    return False


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

HTTP_FAULT_KINDS = ("http500", "http502", "http503", "http504", "http429", "http403")
FAULT_KINDS = HTTP_FAULT_KINDS + ("drop_before", "drop_after", "html_after", "delay", "server_unavailable")
# a 5xx may also come after the request was processed and committed (a proxy's 504 while the
# server finished the write): {"kind": "http504", "after": true}
AFTER_FAULT_KINDS = tuple(kind for kind in HTTP_FAULT_KINDS if kind.startswith("http5"))
FAULT_MATCHES = ("any", "read", "write", "session")
LOG_LIMIT = 100_000  # entries of /_sim/log kept until the next reset
CORS_HEADERS = [("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "POST, GET, PATCH, PUT, DELETE, HEAD, OPTIONS"),
                ("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Requested-With")]
# First path segments the server routes itself: no redirect to "/<segment>/" for them
ROUTED_SEGMENTS = frozenset({"jmap", "dav", ".well-known", "auth", "api", "mail", "calendar", "autodiscover",
                             "Autodiscover", "AutoDiscover", "robots.txt", "healthz", "metrics", "form", "login",
                             "device"})
HTTP_TITLES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout", 429: "Too Many Requests", 403: "Forbidden"}


@contextlib.contextmanager
def in_flight(sim, account):
    """The request holds one of its account's ``maxConcurrentRequests`` slots while it is served.
    Past them the server refuses it before anything else, right after authentication
    (crates/http/src/auth/authenticate.rs, crates/common/src/auth/rate_limit.rs), unless the
    account has the permission unlimitedRequests; measured on Stalwart 0.16.19 with a read-only key
    and 10 clients: this body, HTTP 400. The headers are the source's (RateLimit-Policy, RateLimit)."""
    if account is None or "unlimitedRequests" in account.permissions:
        yield
        return
    limit = sim.limits["maxConcurrentRequests"]
    with sim.lock:
        if sim.in_flight.get(account.number, 0) >= limit:
            raise RequestError(400, "urn:ietf:params:jmap:error:limit",
                               "The request exceeds the maximum number of concurrent requests.",
                               limit="maxConcurrentRequests",
                               headers=[("RateLimit-Policy", f'"concurrent-requests";q={limit};qu="concurrent-requests"'),
                                        ("RateLimit", '"concurrent-requests";r=0')])
        sim.in_flight[account.number] = sim.in_flight.get(account.number, 0) + 1
    try:
        yield
    finally:
        with sim.lock:
            sim.in_flight[account.number] -= 1


def may_use_the_api(account):
    """403 for an account without the ``authenticate`` permission, at the session resource and the
    JMAP endpoint alike (Stalwart 0.16.19 answers an API key that lacks it so, whatever else it
    may do; observed on the real server, docs/compatibility.md)."""
    if account is not None and "authenticate" not in account.permissions:
        raise RequestError(403, "about:blank", "You do not have enough permissions to access this resource.",
                           title="Forbidden")


def unauthorized() -> RequestError:
    """401 with both challenges and the problem body ([Authentication])."""
    return RequestError(401, "about:blank", "You have to authenticate first.", title="Unauthorized",
                        headers=[("WWW-Authenticate", 'Bearer realm="Stalwart Server", '
                                  'resource_metadata="/.well-known/oauth-protected-resource"'),
                                 ("WWW-Authenticate", 'Basic realm="Stalwart Server"')])


class Handler(BaseHTTPRequestHandler):
    """One HTTP connection. Keep-alive (HTTP/1.1) so clients can reuse connections."""

    protocol_version = "HTTP/1.1"
    server_version = "Stalwart"
    timeout = 60  # idle keep-alive connections are closed after a minute
    # TCP_NODELAY on every connection, as the server sets it (its listener option socketNoDelay,
    # true by default). Without it an answer's body, written after its headers, waited for the
    # client's delayed ACK: a module run took 51 ms here against 6 ms on the real server.
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    @property
    def sim(self) -> Simulator:
        return self.server.simulator

    def setup(self):
        """TLS handshake here, in the connection's own thread, so that a slow or plain-text
        client cannot block the accept loop."""
        context = self.server.tls_context
        if context is not None:
            self.request.settimeout(10)
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
            # A client that fails the handshake or goes away is not the server's problem.
            self.close_connection = True

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ----------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked transfer encoding; raises ValueError
        on a malformed length."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, body, content_type="application/json; charset=utf-8", headers=(),
             count=True):
        """Send a complete response with Content-Length; ``body`` is bytes or JSON-able."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if count:
            with self.sim.lock:
                self.sim.stats["bytes_out"] += len(body)

    def send_problem(self, error: RequestError, count=True):
        self.send(error.status, error.body, "application/problem+json", error.headers, count)

    def base_url(self) -> str:
        """``scheme://host:port`` as the client addressed us (for the session's URLs)."""
        scheme = "https" if self.server.tls_context is not None else "http"
        host = self.headers.get("Host") or f"{self.server.display_host}:{self.server.server_port}"
        return f"{scheme}://{host}"

    def authenticate(self) -> Account | None:
        """The account for the Authorization header; None when absent; 401 when bad ([Authentication])."""
        header = self.headers.get("Authorization")
        if header is None:
            return None
        scheme, _space, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials in self.sim.tokens:
            return self.sim.tokens[credentials]
        if scheme.lower() == "basic":
            try:
                user, _colon, password = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise unauthorized() from None
            # trimmed and lower-cased; a bare name gets no domain appended (the login is refused)
            user = user.strip().lower()
            known = self.sim.users.get(user)
            if known is not None and known[0] == password:
                return known[1]
        raise unauthorized()

    # -- routing -----------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def dispatch(self, method):
        path = urlsplit(self.path).path
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return self.send_problem(RequestError(400, "about:blank", "Malformed request body length.",
                                                  title="Bad Request"), count=False)
        if path.startswith("/_sim/") or path == "/_sim":
            return self.control(method, path, body)
        sim = self.sim
        dialect = sim.dialect
        jmap_paths = ("/jmap", "/jmap/") if dialect == "server" else ("/api",)
        is_session = method == "GET" and path in ("/jmap/session", "/jmap/session/", "/.well-known/jmap",
                                                  "/.well-known/jmap/")
        is_jmap_post = method == "POST" and path in jmap_paths
        request = None
        if is_jmap_post:
            try:
                request = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                request = None
        with sim.lock:
            sim.stats["requests"] += 1
            sim.stats["bytes_in"] += len(body)
            if is_session:
                sim.stats["session_requests"] += 1
            if is_jmap_post:
                sim.stats["posts"] += 1
            kind = "session" if is_session else (
                ("write" if is_write_request(request) else "read") if is_jmap_post else "other")
            fault = self.take_fault(kind, is_jmap_post and isinstance(request, dict), body)
            if len(sim.log) < LOG_LIMIT:
                sim.log.append({"at": round(time.monotonic() - sim.started, 4), "method": method, "path": path,
                                "class": kind, "fault": fault["kind"] if fault else None})
        if fault is not None:
            if fault["kind"] == "drop_before":
                self.close_connection = True
                return
            if fault["kind"] in HTTP_FAULT_KINDS and not fault.get("after"):
                return self.send_fault(fault)
            if fault["kind"] == "delay" and not is_jmap_post:
                time.sleep(float(fault.get("seconds", 1.0)))
            if fault["kind"] == "server_unavailable":
                calls = request.get("methodCalls") if isinstance(request, dict) else []
                answer = {"methodResponses": [
                    ["error", {"type": "serverUnavailable", "description": SERVER_UNAVAILABLE},
                     call[2] if isinstance(call, list) and len(call) == 3 else ""]
                    for call in (calls if isinstance(calls, list) else [])],
                    "sessionState": "00000000"}
                return self.send(200, answer)
        # a JMAP request sleeps once authenticated, holding its account's in-flight slot (``jmap_served``)
        self.delay = float(fault.get("seconds", 1.0)) if fault is not None and fault["kind"] == "delay" and is_jmap_post else 0
        drop_after = fault is not None and fault["kind"] == "drop_after"
        # not the server's doing: a gateway (WAF, SSO) that passed the request on and answers with a page of its own
        html_after = fault is not None and fault["kind"] == "html_after"
        error_after = fault is not None and fault["kind"] in HTTP_FAULT_KINDS and fault.get("after")
        try:
            status, payload, content_type, headers = self.route(method, path, body, dialect)
        except RequestError as error:
            status, payload, content_type, headers = (error.status, error.body,
                                                      "application/problem+json", error.headers)
        except TaskCrash:
            # The server's task for this request panicked: no answer at all, the server stays up.
            self.close_connection = True
            return
        if drop_after:
            # The lost write: processed and committed, but the answer never leaves.
            self.close_connection = True
            return
        if error_after:
            # Processed and committed, then answered with an error (a gateway that gave up).
            return self.send_fault(fault)
        if html_after:
            return self.send(200, b"<html><body>Request processed</body></html>", "text/html; charset=utf-8")
        self.send(status, payload, content_type, headers)

    def take_fault(self, kind, is_jmap_request, body=b""):
        """Pop the first queued fault matching this request class (and holding its ``body_contains``
        text, when it has one) (caller holds the lock)."""
        for fault in self.sim.faults:
            if "body_contains" in fault and fault["body_contains"].encode() not in body:
                continue
            if fault["match"] == "any" or fault["match"] == kind:
                if fault["kind"] == "server_unavailable" and not is_jmap_request:
                    continue  # only a JMAP call can be answered with method errors
                if fault.get("skip"):
                    fault["skip"] -= 1  # this many matching requests pass before the fault starts
                    continue
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.sim.faults.remove(fault)
                return fault
        return None

    def send_fault(self, fault):
        status = int(fault["kind"][4:])
        body = {"type": "about:blank", "status": status, "title": HTTP_TITLES[status]}
        headers = []
        if status == 403:
            # [Requests and answers]: "Blocked IP or endpoint access denied"
            body["detail"] = "Access to this endpoint is denied."
        if status == 429:
            body["detail"] = "You have exceeded the request rate limit."
            headers = [("Retry-After", str(fault.get("retry_after", 1))),
                       ("RateLimit-Policy", '"requests";q=100;w=60'),
                       ("RateLimit", f'"requests";r=0;t={fault.get("retry_after", 1)}')]
        self.send_problem(RequestError(status, body["type"], body.get("detail"), body["title"],
                                       headers=headers))

    def route(self, method, path, body, dialect):
        """The non-control endpoints; returns (status, body, content type, headers).

        The server dialect routes by the first path segment as the server does
        (crates/http/src/request.rs): ``/jmap`` (POST to ``/jmap`` or ``/jmap/``, GET
        ``/jmap/session``, OPTIONS anything below), ``/.well-known`` (GET ``jmap``, OPTIONS), ``/api``
        (OPTIONS; the management API answers 404 here), ``/auth`` (OPTIONS). An unknown single
        segment without a trailing slash (``/foo``) is a 302 to ``/foo/`` (the web applications'
        redirect), ``/`` a 302 to ``/account``; anything else is 404.

        [APPROXIMATION] The server's other endpoints (``/dav``, ``/auth/...``, ``/healthz``,
        ``/robots.txt``, the web applications, ...) answer 404 here."""
        sim = self.sim
        segments = path.split("/")[1:]
        first = segments[0] if segments else ""
        second = segments[1] if len(segments) > 1 else ""
        if dialect == "docs":
            if method == "POST" and path == "/api":
                return self.jmap(body)
            raise problem_not_found()
        if first == "jmap":
            if second == "" and method == "POST":
                return self.jmap(body)
            if second == "session" and method in ("GET", "HEAD"):
                account = self.authenticate()
                with in_flight(sim, account):
                    may_use_the_api(account)
                    with sim.lock:
                        return 200, sim.session(self.base_url(), account), "application/json; charset=utf-8", []
            if method == "OPTIONS":
                return 204, b"", None, []
        elif first == ".well-known":
            if second == "jmap" and method in ("GET", "HEAD"):
                return 307, b"", None, [("Cache-Control", "no-cache"), ("Location", "/jmap/session")]
            if method == "OPTIONS":
                return 204, b"", None, CORS_HEADERS
        elif first in ("api", "auth"):
            if method == "OPTIONS":
                return 204, b"", None, []
        elif first not in ROUTED_SEGMENTS and len(segments) == 1:
            return 302, b"", None, [("Location", f"/{first}/" if first else "/account")]
        raise problem_not_found()

    def jmap(self, body):
        """One JMAP API request: auth, content type, size, parse, process ([Requests and answers], [Requests and answers])."""
        account = self.authenticate()
        if account is None:
            raise unauthorized()
        with in_flight(self.sim, account):
            return self.jmap_served(account, body)

    def jmap_served(self, account, body):
        """The JMAP request of ``account`` while it holds its in-flight slot (a ``delay`` fault
        holds it that long)."""
        if self.delay:
            time.sleep(self.delay)
        may_use_the_api(account)
        content_type = self.headers.get("Content-Type")
        if content_type is not None and content_type.split(";")[0].strip().lower() != "application/json":
            raise RequestError(400, "urn:ietf:params:jmap:error:notJSON",
                               "Failed to parse JSON: The Content-Type header must be application/json.")
        if len(body) > self.sim.limits["maxSizeRequest"]:
            raise RequestError(400, "urn:ietf:params:jmap:error:limit",
                               "The request is larger than the server is willing to process.", limit="maxSizeRequest")
        sim = self.sim
        with sim.lock:
            request = sim.parse_request(body)
            try:
                response, committed = sim.process(request, account)
            except TaskCrash as crash:
                if crash.committed:
                    sim.save()
                raise
            if committed:
                sim.save()
        return 200, response, "application/json; charset=utf-8", []

    # -- control surface (/_sim/) ------------------------------------------------------------

    def control(self, method, path, body):
        """Test hooks; no auth, not counted in the stats."""
        sim = self.sim
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return self.send(400, {"error": "body is not JSON"}, count=False)
        try:
            with sim.lock:
                if method == "GET" and path == "/_sim/stats":
                    answer = copy.deepcopy(sim.stats)
                elif method == "POST" and path == "/_sim/reset":
                    sim.reset(payload)
                    answer = {"ok": True, **sim.config()}
                elif method == "GET" and path == "/_sim/log":
                    answer = {"requests": list(sim.log)}
                elif method == "GET" and path == "/_sim/objects":
                    answer = sim.objects()
                elif method == "POST" and path == "/_sim/config":
                    answer = sim.configure(payload)
                elif method == "GET" and path == "/_sim/config":
                    answer = sim.config()
                elif method == "POST" and path == "/_sim/faults":
                    for fault in self.checked_faults(payload):
                        sim.faults.append(fault)
                    answer = {"faults": copy.deepcopy(sim.faults)}
                elif method == "POST" and path == "/_sim/refuse":
                    refusals = payload.get("names") if isinstance(payload, dict) else None
                    if not isinstance(refusals, dict) or not all(
                            value is None or isinstance(value, dict) for value in refusals.values()):
                        raise ValueError('expected {"names": {"<strategy name>": <SetError object or null>}}')
                    sim.refusals = dict(refusals)
                    answer = {"names": copy.deepcopy(sim.refusals)}
                elif method == "DELETE" and path == "/_sim/faults":
                    sim.faults = []
                    answer = {"faults": []}
                elif method == "GET" and path == "/_sim/faults":
                    answer = {"faults": copy.deepcopy(sim.faults)}
                else:
                    return self.send(404, {"error": f"no control endpoint {method} {path}"}, count=False)
        except ValueError as error:
            return self.send(400, {"error": str(error)}, count=False)
        return self.send(200, answer, count=False)

    @staticmethod
    def checked_faults(payload) -> list:
        """Validate ``{"faults": [...]}`` entries and fill in defaults."""
        faults = payload.get("faults") if isinstance(payload, dict) else None
        if not isinstance(faults, list):
            raise ValueError('expected {"faults": [...]}')
        checked = []
        for fault in faults:
            if not isinstance(fault, dict) or fault.get("kind") not in FAULT_KINDS:
                raise ValueError(f"bad fault {fault!r}; kinds: {', '.join(FAULT_KINDS)}")
            entry = {"kind": fault["kind"], "count": fault.get("count", 1),
                     "match": fault.get("match", "any")}
            if entry["match"] not in FAULT_MATCHES or not is_int(entry["count"]) or entry["count"] < 1:
                raise ValueError(f"bad fault {fault!r}")
            for key in ("retry_after", "seconds"):
                if key in fault:
                    entry[key] = fault[key]
            if "body_contains" in fault:
                if not isinstance(fault["body_contains"], str) or not fault["body_contains"]:
                    raise ValueError(f"bad fault {fault!r}: body_contains is a non-empty string")
                entry["body_contains"] = fault["body_contains"]
            if "skip" in fault:
                if not is_int(fault["skip"]) or fault["skip"] < 0:
                    raise ValueError(f"bad fault {fault!r}: skip is a number of requests >= 0")
                entry["skip"] = fault["skip"]
            if fault.get("after"):
                if fault["kind"] not in AFTER_FAULT_KINDS:
                    raise ValueError(f"bad fault {fault!r}: 'after' applies to {', '.join(AFTER_FAULT_KINDS)}")
                entry["after"] = True
            checked.append(entry)
        return checked


class Server(ThreadingHTTPServer):
    """Threaded server: each connection in its own daemon thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    verbose = False

    def handle_error(self, request, client_address):
        """Quiet by default: a failed TLS handshake or a vanished client is routine in tests
        (faults, timeouts); the traceback is printed only with --verbose."""
        if self.verbose:
            super().handle_error(request, client_address)


def make_server(host, port, simulator, tls_context=None, verbose=False) -> Server:
    """Bind (IPv4 or IPv6 loopback) and attach the simulator."""
    server_class = Server
    if ":" in host:
        server_class = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    server = server_class((host, port), Handler)
    server.simulator = simulator
    server.tls_context = tls_context
    server.verbose = verbose
    server.display_host = f"[{host}]" if ":" in host else host
    return server


def is_loopback(host: str) -> bool:
    """Only loopback addresses may be bound: this fake must never be reachable from outside."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv=None):
    """The command line (see the module docstring and docs/simulator.md)."""
    parser = argparse.ArgumentParser(description="Stalwart JMAP API simulator (MtaConnectionStrategy)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dialect", choices=("server", "docs"), default="server")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--state-file")
    parser.add_argument("--max-objects-in-get", type=int, default=500)
    parser.add_argument("--max-objects-in-set", type=int, default=500)
    parser.add_argument("--max-calls-in-request", type=int, default=16)
    parser.add_argument("--max-size-request", type=int, default=10_000_000)
    parser.add_argument("--query-max-results", type=int, default=5000,
                        help="the most ids a /query page holds (the server's queryMaxResults)")
    parser.add_argument("--max-concurrent-requests", type=int, default=4,
                        help="the most requests in flight per account without the permission unlimitedRequests")
    parser.add_argument("--no-seed", action="store_true", help="start without the default strategy")
    parser.add_argument("--token", action="append", default=[], metavar="NAME=PERMS",
                        help="extra Bearer token; PERMS comma-separated, or all/readonly/none/nooutbound")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to bind {args.host}: only loopback addresses are allowed")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    for value in (args.max_objects_in_get, args.max_objects_in_set, args.max_calls_in_request,
                  args.max_size_request, args.query_max_results, args.max_concurrent_requests):
        if value < 1:
            parser.error("limits must be positive")
    return args


def main(argv=None) -> int:
    """Start the simulator, print the listening line, serve until SIGTERM/SIGINT."""
    args = parse_args(argv)
    tokens = {}
    for spec in args.token:
        name, separator, permissions = spec.partition("=")
        if not name or not separator:
            print(f"bad --token {name or '?'}=...: expected NAME=perm1,perm2", file=sys.stderr)
            return 2
        tokens[name] = parse_permissions(permissions)
    limits = {"maxObjectsInGet": args.max_objects_in_get, "maxObjectsInSet": args.max_objects_in_set,
              "maxCallsInRequest": args.max_calls_in_request, "maxSizeRequest": args.max_size_request,
              "queryMaxResults": args.query_max_results, "maxConcurrentRequests": args.max_concurrent_requests}
    try:
        simulator = Simulator(args.dialect, limits, seed=not args.no_seed, state_file=args.state_file,
                              tokens=tokens)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"cannot use the state file {args.state_file}: {error}", file=sys.stderr)
        return 2
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    server = make_server(args.host, args.port, simulator, context, args.verbose)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheme = "https" if context else "http"
    print(f"stalwart-sim listening on {scheme}://{server.display_host}:{server.server_port} "
          f"dialect={args.dialect}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
