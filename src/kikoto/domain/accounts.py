"""Accounts: several AWS-style accounts in one registry, and the key that keeps their
repositories apart.

A repository is stored under a key: its name in the first account (the one Kikötő always had,
so an existing installation's data is already keyed), `~<account>/<name>` in any other. `~`
is outside the names' grammar and sorts after every character a name may hold, so the keys
of one account are one contiguous range of the name index: a listing of an account reads only
its own rows, and every prefix rule (pull-through prefixes, creation templates) compares keys
of the same account with the same code it always used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidParameter

ACCOUNT_ID = re.compile(r"[0-9]{12}")
ALIAS = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")  # IAM's account alias rule
MARK = "~"


@dataclass(frozen=True)
class Account:
    id: str
    alias: str | None
    created_at: float


def check_account_id(account: str) -> str:
    if not ACCOUNT_ID.fullmatch(account):
        raise InvalidParameter(f"invalid account id {account[:40]!r}: an account id is 12 digits")
    return account


def check_alias(alias: str) -> str:
    if not ALIAS.fullmatch(alias):
        raise InvalidParameter(
            f"invalid account alias {alias[:70]!r}: 1 to 63 lower-case letters, digits and hyphens, "
            "not starting or ending with a hyphen"
        )
    return alias


def repository_key(account: str, name: str, first: str) -> str:
    """Where `account`'s repository `name` is stored."""
    return name if account == first else f"{MARK}{account}/{name}"


def split_key(key: str, first: str) -> tuple[str, str]:
    """(account, name) of a stored key; a key without the mark is the first account's."""
    if key.startswith(MARK):
        account, _, name = key[1:].partition("/")
        return account, name
    return first, key


def key_range(account: str, first: str) -> tuple[str, str]:
    """(after, before): the keys of `account`'s repositories are those strictly between."""
    if account == first:
        return "", MARK
    return f"{MARK}{account}/", f"{MARK}{account}0"  # "0" is the character after "/"


def in_range(key: str, bounds: tuple[str, str]) -> bool:
    return bounds[0] < key < bounds[1]
