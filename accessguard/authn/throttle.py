"""Throttling of guesses: password logins and one-time codes, in buckets shared by every host on one store.

Every attempt is charged in the shared store *before* what was submitted is
checked, to all its buckets in one atomic step (``Store.charge_attempts``), so
concurrent guesses, in any process on any host sharing the store, cannot all
slip in before the first failure is counted. From a bucket's ``max_attempts``-th
consecutive attempt on, each attempt also locks it for a back-off that doubles
every time. While any bucket of an attempt is locked, the attempt, right or
wrong, is refused with a 429 and ``Retry-After`` and counted nowhere.

Which buckets (OWASP's device-cookie scheme, ``devices.py``):

- a password login presented with a valid device cookie for its username is
  charged to that device alone, so strangers' failures never lock it out;
- any other login is charged to the username's *untrusted clients*, to the
  client's address and to its network (/24, /48): spraying many usernames
  from one place is slowed like hammering one;
- a one-time code is charged to the device when the request carries a valid
  device cookie for the account, to the account's untrusted clients otherwise.

A success clears a bucket that is one person's (a username, a device) and
takes back only its own charge from one many people share (an address, a
network), so an attacker's own valid account cannot wipe their failures.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from accessguard.errors import Refused
from accessguard.facts import IPAddress, IPNetwork
from accessguard.i18n import N_
from accessguard.store.base import Attempt, Backoff, Store

log = logging.getLogger("accessguard.authn")

#: TOTP and recovery codes, per account (untrusted clients) or per device: 5 attempts, then 30 s, 60 s … 15 min.
CODES = Backoff(max_attempts=5, first_lock_s=30, max_lock_s=900)
#: Passwords, per username (untrusted clients) or per device: 10 attempts, then 30 s … 15 min
#: (a person mistypes more often than a code).
LOGINS = Backoff(max_attempts=10, first_lock_s=30, max_lock_s=900)
#: Failed logins from one address without a device cookie, whatever the usernames: 30, then 30 s … 15 min;
#: forgotten an hour after the last attempt (many people may share an address behind a NAT).
SOURCES = Backoff(max_attempts=30, first_lock_s=30, max_lock_s=900, forget_after_s=3600)
#: The same from one network (IPv4 /24, IPv6 /48): an attacker's neighbouring addresses add up.
NETWORKS = Backoff(max_attempts=100, first_lock_s=30, max_lock_s=900, forget_after_s=3600)
#: The networks of ``NETWORKS``, by IP version.
NETWORK_PREFIX = {4: 24, 6: 48}


#: Scopes whose buckets many people share: a success takes back only its own charge instead of clearing the count.
SHARED_SCOPES = frozenset({"address", "network"})


@dataclass(frozen=True)
class Bucket:
    """One count an attempt is charged to: its ``scope`` is ``username``, ``account``, ``device``, ``address`` or ``network``."""

    scope: str
    key: str
    backoff: Backoff
    label: str  # for log lines: "'dr.martin'", "address 192.0.2.10"
    refusal: str  # what a lock's refusal says, ``{wait}`` the seconds to wait (a template: the catalogue translates it)

    @property
    def shared(self) -> bool:
        return self.scope in SHARED_SCOPES

    def first_lock(self, attempt: Attempt) -> bool:
        """This attempt is the one that locked the bucket for the first time."""
        return attempt.attempts == self.backoff.max_attempts


def network_of(address: IPAddress) -> IPNetwork:
    """The /24 (IPv4) or /48 (IPv6) around an address; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    address = mapped or address
    return ipaddress.ip_network(f"{address}/{NETWORK_PREFIX[address.version]}", strict=False)


def login_buckets(username: str, device: str | None, source: IPAddress | None) -> list[Bucket]:
    """A password login's buckets: the device alone when it holds a valid device cookie for the username."""
    if device is not None:
        return [
            Bucket(
                "device",
                f"login:device:{device}",
                LOGINS,
                f"a trusted device of {username!r}",
                N_("too many failed logins on this device; try again in {wait} s"),
            )
        ]
    address = str(source) if source is not None else "unknown"
    network = str(network_of(source)) if source is not None else "unknown"
    return [
        Bucket(
            "username",
            f"login:username:{username}",
            LOGINS,
            repr(username),
            N_("too many failed logins for this username; try again in {wait} s"),
        ),
        Bucket(
            "address",
            f"login:address:{address}",
            SOURCES,
            f"address {address}",
            N_("too many failed logins from this address; try again in {wait} s"),
        ),
        Bucket(
            "network",
            f"login:network:{network}",
            NETWORKS,
            f"network {network}",
            N_("too many failed logins from this network; try again in {wait} s"),
        ),
    ]


def code_buckets(account_id: str, device: str | None) -> list[Bucket]:
    """A one-time code's bucket: the device holding a valid device cookie for the account, or the account's untrusted clients."""
    if device is not None:
        return [
            Bucket(
                "device",
                f"code:device:{device}",
                CODES,
                f"a trusted device of {account_id!r}",
                N_("too many wrong codes on this device; try again in {wait} s"),
            )
        ]
    return [Bucket("account", f"code:account:{account_id}", CODES, repr(account_id), N_("too many wrong codes; try again in {wait} s"))]


@dataclass(frozen=True)
class Throttle:
    """One kind of attempt (``code``, ``login``) on the store's counts; refusals say ``<kind>_attempts_locked``."""

    store: Store
    kind: str

    def charge(self, buckets: Sequence[Bucket], now: float) -> list[Attempt]:
        """Charge one attempt to every bucket; Refused (429, ``Retry-After``) while any of them is locked."""
        attempts = self.store.charge_attempts([(bucket.key, bucket.backoff) for bucket in buckets], now)
        if attempts[0].admitted:  # all or none
            return attempts
        attempt, bucket = max(zip(attempts, buckets, strict=True), key=lambda refused: refused[0].locked_until)  # the longest lock
        wait = max(1, math.ceil(attempt.locked_until - now))
        log.warning("%s attempt for %s refused: locked for %d s more after %d in a row", self.kind, bucket.label, wait, attempt.attempts)
        raise Refused(f"{self.kind}_attempts_locked", bucket.refusal, 429, [("retry-after", str(wait))], wait=wait)

    def succeeded(self, buckets: Sequence[Bucket]) -> None:
        """A success: one person's buckets start again from zero; shared ones take back this attempt's charge."""
        self.store.settle_attempts([b.key for b in buckets if not b.shared], [b.key for b in buckets if b.shared])
