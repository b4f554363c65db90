"""Policy examples of the ECR and IAM documentation about repositories, table-driven: each
document with the requests it must allow and refuse (source addresses, tags, principal tags,
organisation paths of roles, dates, MFA, regions, the tag keys a request may set)."""

from __future__ import annotations

import json

import pytest

from kikoto.domain.policy import evaluate, parse_policy

ACCOUNT = "111122223333"
REPO = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team/app"
USER = f"arn:aws:iam::{ACCOUNT}:user/ci"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_PULL = {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": "*"}

CASES = [
    (  # ECR: pulls only from the corporate network (IAM's aws:SourceIp example)
        "pull from the office",
        doc(ALLOW_PULL | {"Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}}),
        [
            ({"aws:sourceip": "192.0.2.10"}, "ecr:BatchGetImage", "Allow"),
            ({"aws:sourceip": "198.51.100.1"}, "ecr:BatchGetImage", None),
            ({}, "ecr:BatchGetImage", None),  # no address known: not from the office
        ],
    ),
    (  # IAM: deny all access from outside the network, whatever else allows it
        "deny outside the network",
        doc(
            {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
            },
        ),
        [
            ({"aws:sourceip": "192.0.2.5"}, "ecr:PutImage", "Allow"),
            ({"aws:sourceip": "10.0.0.1"}, "ecr:PutImage", "Deny"),
            ({}, "ecr:PutImage", "Deny"),  # an absent key makes NotIpAddress true
        ],
    ),
    (  # IAM ABAC: repositories of the principal's own team (ecr:ResourceTag vs aws:PrincipalTag)
        "own team's repositories",
        doc(ALLOW_PULL | {"Condition": {"StringEquals": {"ecr:ResourceTag/team": "${aws:PrincipalTag/team}"}}}),
        [
            ({"ecr:resourcetag/team": "web", "aws:principaltag/team": "web"}, "ecr:BatchGetImage", "Allow"),
            ({"ecr:resourcetag/team": "db", "aws:principaltag/team": "web"}, "ecr:BatchGetImage", None),
            ({"ecr:resourcetag/team": "web"}, "ecr:BatchGetImage", None),  # an untagged principal
        ],
    ),
    (  # an organisation's path of roles: CI roles under /ci/ may push
        "roles under a path",
        doc(
            {
                "Effect": "Allow",
                "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"],
                "Resource": "*",
                "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/ci/*"}},
            }
        ),
        [
            ({"aws:principalarn": f"arn:aws:iam::{ACCOUNT}:role/ci/build"}, "ecr:PutImage", "Allow"),
            ({"aws:principalarn": f"arn:aws:iam::{ACCOUNT}:role/ops/build"}, "ecr:PutImage", None),
            ({"aws:principalarn": "arn:aws:iam::999999999999:role/ci/build"}, "ecr:PutImage", None),
        ],
    ),
    (  # IAM: access until a date
        "until a date",
        doc(ALLOW_PULL | {"Condition": {"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}}),
        [
            ({"aws:currenttime": "2026-12-04T12:00:00Z"}, "ecr:BatchGetImage", "Allow"),
            ({"aws:currenttime": "2027-01-02T00:00:00Z"}, "ecr:BatchGetImage", None),
        ],
    ),
    (  # IAM: deletes need MFA (never present here: refused, as for a key without it)
        "deletes need MFA",
        doc(
            {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": ["ecr:BatchDeleteImage", "ecr:DeleteRepository"],
                "Resource": "*",
                "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
            },
        ),
        [
            ({"aws:multifactorauthpresent": "false"}, "ecr:BatchDeleteImage", "Deny"),
            ({"aws:multifactorauthpresent": "false"}, "ecr:BatchGetImage", "Allow"),
            ({}, "ecr:DeleteRepository", "Deny"),  # IfExists: absent counts as matching
        ],
    ),
    (  # IAM: only in one region
        "one region",
        doc(
            {
                "Effect": "Allow",
                "Action": "ecr:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            }
        ),
        [
            ({"aws:requestedregion": "eu-west-1"}, "ecr:CreateRepository", "Allow"),
            ({"aws:requestedregion": "us-east-1"}, "ecr:CreateRepository", None),
        ],
    ),
    (  # ECR: create repositories only with the cost-center tag, and no other tag key
        "tags a create must carry",
        doc(
            {
                "Effect": "Allow",
                "Action": ["ecr:CreateRepository", "ecr:TagResource"],
                "Resource": "*",
                "Condition": {
                    "Null": {"aws:RequestTag/cost-center": "false"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["cost-center", "team"]},
                },
            }
        ),
        [
            ({"aws:requesttag/cost-center": "42", "aws:tagkeys": ["cost-center"]}, "ecr:CreateRepository", "Allow"),
            (
                {"aws:requesttag/cost-center": "42", "aws:tagkeys": ["cost-center", "owner"]},
                "ecr:CreateRepository",
                None,
            ),
            ({"aws:tagkeys": ["team"]}, "ecr:CreateRepository", None),
        ],
    ),
]


@pytest.mark.parametrize(("name", "document", "requests"), CASES, ids=[c[0] for c in CASES])
def test_documented_examples(name, document, requests):
    statements = parse_policy(document, resource_policy=False)
    for context, action, expected in requests:
        assert evaluate([statements], USER, ACCOUNT, action, REPO, context) == expected, (name, context, action)
