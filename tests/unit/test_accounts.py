"""Accounts in the domain: repository keys and their ranges, ECR-shaped hosts, and IAM's rule for
a request into another account (both the identity and the resource policy must allow)."""

from __future__ import annotations

import json

import pytest

from kikoto.domain.accounts import check_account_id, check_alias, in_range, key_range, repository_key, split_key
from kikoto.domain.errors import InvalidParameter
from kikoto.domain.policy import cross_account, evaluate, parse_policy
from kikoto.services.registry import RegistryIdentity

FIRST, OTHER = "000000000000", "111122223333"


def test_the_first_accounts_keys_are_its_names_and_others_are_marked():
    assert repository_key(FIRST, "team/app", FIRST) == "team/app"
    assert repository_key(OTHER, "team/app", FIRST) == "~111122223333/team/app"
    for account in (FIRST, OTHER):
        key = repository_key(account, "team/app", FIRST)
        assert split_key(key, FIRST) == (account, "team/app")
        assert in_range(key, key_range(account, FIRST))
    # each account's range holds its keys and no other account's, whatever the names
    names = ["a", "zzz", "0-9", "a/b/c", "z" * 200]
    accounts = [FIRST, OTHER, "111122223334", "999999999999"]
    for account in accounts:
        bounds = key_range(account, FIRST)
        for other in accounts:
            for name in names:
                assert in_range(repository_key(other, name, FIRST), bounds) == (other == account)


def test_account_ids_and_aliases_are_checked():
    assert check_account_id(OTHER) == OTHER and check_alias("team-a") == "team-a"
    for bad in ("12345678901", "1234567890123", "11112222333a", ""):
        with pytest.raises(InvalidParameter):
            check_account_id(bad)
    for bad in ("-team", "team-", "Team", "a" * 64, ""):
        with pytest.raises(InvalidParameter):
            check_alias(bad)


def test_ecr_shaped_hosts_name_their_account_and_carry_a_port_only_when_it_is_not_the_default():
    registry = RegistryIdentity(FIRST, "eu-west-1", "registry.example.net:5000", "http", domain="example.net")
    other = registry.of(OTHER)
    assert other.endpoint == "http://111122223333.dkr.ecr.eu-west-1.example.net:5000"
    assert other.uri("~111122223333/app") == "111122223333.dkr.ecr.eu-west-1.example.net:5000/app"
    assert other.arn("~111122223333/app") == "arn:aws:ecr:eu-west-1:111122223333:repository/app"
    assert registry.arn("app") == "arn:aws:ecr:eu-west-1:000000000000:repository/app"
    assert other.key("app") == "~111122223333/app" and other.name("~111122223333/app") == "app"
    https = RegistryIdentity(FIRST, "eu-west-1", "registry.example.net:443", "https", domain="example.net")
    assert https.endpoint == "https://000000000000.dkr.ecr.eu-west-1.example.net"
    assert RegistryIdentity(FIRST, "eu-west-1", "[::1]", "https", domain="example.net").host() == (
        "000000000000.dkr.ecr.eu-west-1.example.net"
    )
    assert registry.account_at("111122223333.dkr.ecr.eu-west-1.example.net:5000") == OTHER
    assert registry.account_at("111122223333.DKR.ECR.eu-west-1.example.net") == OTHER
    for host in (
        "111122223333.dkr.ecr.us-east-1.example.net",
        "1111.dkr.ecr.eu-west-1.example.net",
        "registry.example.net:5000",
        "111122223333.dkr.ecr.eu-west-1.example.net.evil.org",
    ):
        assert registry.account_at(host) is None
    assert RegistryIdentity(FIRST, "eu-west-1", "h:1").account_at("111122223333.dkr.ecr.eu-west-1.x") is None


def test_a_request_into_another_account_needs_both_policies():
    caller = f"arn:aws:iam::{OTHER}:user/ci"
    target = f"arn:aws:ecr:us-east-1:{FIRST}:repository/app"
    pull = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*"}]}'
    statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "ecr:BatchGetImage"}
    grant = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    identity, resource = parse_policy(pull, resource_policy=False), parse_policy(grant, resource_policy=True)
    granted = evaluate([resource], caller, OTHER, "ecr:BatchGetImage", target, cross=True)
    assert granted == "Allow"  # across accounts, naming the caller's account is that account's grant
    assert evaluate([resource], caller, OTHER, "ecr:BatchGetImage", target) is None  # within: it delegates
    own = evaluate([identity], caller, OTHER, "ecr:BatchGetImage", target)
    assert cross_account(own, granted) == "Allow"
    assert cross_account(None, granted) is None and cross_account(own, None) is None
    assert cross_account("Deny", "Allow") == "Deny" and cross_account("Allow", "Deny") == "Deny"
