"""Authorisation: account principals, listings that must apply Deny, pathological wildcards,
and principals whose policy must not change silently."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kikoto.domain.glob import glob_match
from kikoto.domain.policy import READ_ONLY, PolicyError, evaluate, parse_policy

from ..helpers import push_image

ACCOUNT = "000000000000"
READER = f"arn:aws:iam::{ACCOUNT}:user/reader"


def repository_policy(principal, effect="Allow", action="ecr:*") -> str:
    return json.dumps({"Statement": [{"Effect": effect, "Principal": {"AWS": principal}, "Action": action}]})


# -- H3: an account principal delegates to identity policies -------------------------------------


@pytest.mark.parametrize("principal", [ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"])
def test_an_account_principal_grants_nothing_by_itself(principal):
    resource = parse_policy(repository_policy(principal), resource_policy=True)
    identity = parse_policy(READ_ONLY, resource_policy=False)
    arn = "arn:aws:ecr:us-east-1:000000000000:repository/app"
    assert evaluate([identity, resource], READER, ACCOUNT, "ecr:BatchDeleteImage", arn) is None
    assert evaluate([identity, resource], READER, ACCOUNT, "ecr:SetRepositoryPolicy", arn) is None
    assert evaluate([identity, resource], READER, ACCOUNT, "ecr:BatchGetImage", arn) == "Allow"  # its own policy


def test_an_account_deny_applies_to_everyone_in_it():
    resource = parse_policy(repository_policy(ACCOUNT, "Deny", "ecr:BatchDeleteImage"), resource_policy=True)
    admin = parse_policy('{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}', resource_policy=False)
    arn = "arn:aws:ecr:us-east-1:000000000000:repository/app"
    assert evaluate([admin, resource], READER, ACCOUNT, "ecr:BatchDeleteImage", arn) == "Deny"


def test_a_named_principal_is_granted_by_the_repository_policy():
    resource = parse_policy(repository_policy(READER, action="ecr:BatchDeleteImage"), resource_policy=True)
    arn = "arn:aws:ecr:us-east-1:000000000000:repository/app"
    assert evaluate([(), resource], READER, ACCOUNT, "ecr:BatchDeleteImage", arn) == "Allow"
    assert evaluate([(), resource], f"arn:aws:iam::{ACCOUNT}:user/other", ACCOUNT, "ecr:BatchDeleteImage", arn) is None


async def test_account_principal_policy_over_the_api(registry_with):
    """The audit's attack end to end: a read-only key could delete, push and rewrite the policy."""
    registry = await registry_with()
    key, secret = await registry.new_key("reader", READ_ONLY)
    await registry.ecr("CreateRepository", {"repositoryName": "app"})
    await push_image(await registry.authed(), "app", "v1")
    text = repository_policy(f"arn:aws:iam::{ACCOUNT}:root")
    assert (await registry.ecr("SetRepositoryPolicy", {"repositoryName": "app", "policyText": text}))[0] == 200
    for operation, params in [
        ("BatchDeleteImage", {"repositoryName": "app", "imageIds": [{"imageTag": "v1"}]}),
        ("SetRepositoryPolicy", {"repositoryName": "app", "policyText": text}),
        ("InitiateLayerUpload", {"repositoryName": "app"}),
    ]:
        status, body = await registry.ecr(operation, params, key=key, secret=secret)
        assert (status, body["__type"]) == (400, "AccessDeniedException"), operation
    response = await registry.client.delete("/v2/app/manifests/v1", headers=await registry.basic(key))
    assert response.status == 403
    status, body = await registry.ecr("ListImages", {"repositoryName": "app"}, key=key, secret=secret)
    assert status == 200 and body["imageIds"]


# -- L3: listings apply the same decisions as reads -----------------------------------------------


async def test_an_explicit_deny_hides_a_repository_from_listings(registry_with):
    registry = await registry_with()
    for name in ("open", "secret"):
        await registry.ecr("CreateRepository", {"repositoryName": name})
    deny = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:*"}]})
    await registry.ecr("SetRepositoryPolicy", {"repositoryName": "secret", "policyText": deny})
    key, secret = await registry.new_key("reader", READ_ONLY)
    response = await registry.client.get("/v2/_catalog", headers=await registry.basic(key))
    assert (await response.json())["repositories"] == ["open"]
    response = await registry.client.get("/v2/_catalog?n=1", headers=await registry.basic(key))
    assert (await response.json())["repositories"] == ["open"]
    status, body = await registry.ecr("DescribeRepositories", {"repositoryNames": ["secret"]}, key=key, secret=secret)
    assert status == 400 and body["__type"] == "AccessDeniedException" and "explicit deny" in body["message"]
    status, body = await registry.ecr("DescribeRepositories", {}, key=key, secret=secret)
    assert [r["repositoryName"] for r in body["repositories"]] == ["open"]


async def test_the_catalog_fills_its_pages_past_hidden_repositories(registry_with):
    registry = await registry_with()
    deny = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:*"}]})
    for i in range(12):
        await registry.ecr("CreateRepository", {"repositoryName": f"r{i:02}"})
        if i % 3:
            await registry.ecr("SetRepositoryPolicy", {"repositoryName": f"r{i:02}", "policyText": deny})
    key, _ = await registry.new_key("reader", READ_ONLY)
    response = await registry.client.get("/v2/_catalog?n=2", headers=await registry.basic(key))
    assert (await response.json())["repositories"] == ["r00", "r03"]
    assert "last=r03" in response.headers["Link"]


# -- H2: wildcards in linear time -----------------------------------------------------------------


def test_a_pathological_resource_pattern_costs_microseconds():
    pattern = "*?" * 30 + "!"
    statements = parse_policy(
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": pattern}]}),
        resource_policy=True,
    )
    started = time.perf_counter()
    for _ in range(100):
        evaluate(
            [statements],
            "anonymous",
            ACCOUNT,
            "ecr:BatchGetImage",
            "arn:aws:ecr:us-east-1:000000000000:repository/" + "a" * 200,
        )
    assert time.perf_counter() - started < 0.5  # exponential backtracking took 3 s for *one* at 7 pairs


def test_policy_size_and_principal_wildcards_are_bounded_as_iam_does():
    with pytest.raises(PolicyError, match="longer than"):
        parse_policy(
            json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "x" * 11_000}]}
            ),
            resource_policy=True,
        )
    with pytest.raises(PolicyError, match="wildcard"):
        parse_policy(repository_policy("arn:aws:iam::000000000000:user/*"), resource_policy=True)
    with pytest.raises(PolicyError, match="wildcards"):
        parse_policy(
            json.dumps({"Statement": [{"Effect": "Allow", "Action": "*?" * 40, "Resource": "*"}]}),
            resource_policy=False,
        )
    with pytest.raises(PolicyError, match="not valid JSON"):
        parse_policy("[" * 3000 + "]" * 3000, resource_policy=False)


ALPHABET = st.sampled_from("ab*?\n.[")


@settings(max_examples=400, deadline=None)
@given(st.text(ALPHABET, max_size=8).filter(lambda p: "[" not in p), st.text("ab?*\n.[", max_size=10), st.booleans())
def test_the_glob_matcher_agrees_with_a_reference(pattern, value, question_mark):
    """Checked against a regex built independently from the pattern (fnmatch's semantics for
    `*` and `?`, newlines included, without its character classes)."""
    if question_mark:
        reference = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    else:
        reference = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
    assert glob_match(pattern, value, question_mark=question_mark) == bool(re.fullmatch(reference, value, re.DOTALL))
    if question_mark and "\n" not in value:
        assert glob_match(pattern, value) == fnmatch.fnmatchcase(value, pattern)


def test_lifecycle_patterns_and_exclusion_filters_use_the_same_matcher():
    from kikoto.domain.ecr import tag_is_immutable
    from kikoto.domain.lifecycle import Image, selects
    from kikoto.domain.lifecycle import parse_policy as parse_lifecycle

    policy = parse_lifecycle(
        json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "tagged",
                            "tagPatternList": ["*a*a*a*b"],
                            "countType": "imageCountMoreThan",
                            "countNumber": 1,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        )
    )
    image = Image(digest="sha256:" + "0" * 64, tags=("a" * 5000,), pushed_at=0, size=1)
    started = time.perf_counter()
    assert not selects(policy.rules[0], image)
    assert time.perf_counter() - started < 0.1
    assert tag_is_immutable("MUTABLE_WITH_EXCLUSION", [{"filter": "release-*"}], "release-1.0")
    assert not tag_is_immutable("MUTABLE_WITH_EXCLUSION", [{"filter": "release-*"}], "dev?")


# -- M5: a principal's policy never changes silently ----------------------------------------------


def _kikoto(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "kikoto"), *args, "--data-dir", str(data_dir), "--init"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_keys_create_refuses_to_keep_a_broader_policy_silently(tmp_path):
    data = tmp_path / "data"
    assert _kikoto("keys", "create", "ci", "--role", "admin", data_dir=data).returncode == 0
    refused = _kikoto("keys", "create", "ci", "--role", "read-only", data_dir=data)
    assert refused.returncode != 0 and "--replace-policy" in refused.stderr
    kept = _kikoto("keys", "create", "ci", data_dir=data)
    assert kept.returncode == 0 and "kept the policy of principal 'ci'" in kept.stderr
    replaced = _kikoto("keys", "create", "ci", "--role", "read-only", "--replace-policy", data_dir=data)
    assert replaced.returncode == 0 and "replaced the policy of principal 'ci'" in replaced.stderr


async def test_a_new_admin_key_from_the_environment_keeps_the_admin_policy_in_place(registry_with):
    """Sibling of M5: bootstrapping another admin key pair must neither fail on nor widen an
    admin principal whose policy an operator narrowed."""
    from kikoto.http.ecr.api import ECR

    registry = await registry_with()
    identities = registry.app[ECR].identities
    admin = await identities.store.principal("admin")
    await identities.store.set_policy(admin.id, READ_ONLY)
    assert await identities.bootstrap_admin(("AKIANEWADMIN00000001", "another-secret-0123456789")) is None
    assert (await identities.store.principal("admin")).policy == READ_ONLY
    assert (await identities.store.key("AKIANEWADMIN00000001")).principal.name == "admin"
