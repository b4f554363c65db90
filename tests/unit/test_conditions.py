"""IAM Conditions as IAM documents them: every operator family, IfExists, Null, the set
operators, absent keys (false, or true for a negated operator), policy variables, and the
documents IAM would refuse."""

from __future__ import annotations

import json

import pytest

from kikoto.domain.conditions import ConditionError, all_hold, parse_conditions, substitute

CONTEXT = {
    "aws:sourceip": "203.0.113.9",
    "aws:securetransport": "true",
    "aws:currenttime": "2026-12-04T12:00:00Z",
    "aws:epochtime": "1796385600",
    "aws:principalarn": "arn:aws:iam::111122223333:user/ci-bot",
    "aws:username": "ci-bot",
    "aws:principaltag/team": "web",
    "aws:resourcetag/team": "web",
    "aws:tagkeys": ["team", "stage"],
    "aws:multifactorauthpresent": "false",
}


def check(block: dict, context=CONTEXT) -> bool:
    return all_hold(parse_conditions(block), context)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"StringEquals": {"aws:username": "ci-bot"}}, True),
        ({"StringEquals": {"AWS:UserName": ["someone", "ci-bot"]}}, True),  # keys: any case; values: any of them
        ({"StringEquals": {"aws:username": "CI-BOT"}}, False),
        ({"StringEqualsIgnoreCase": {"aws:username": "CI-BOT"}}, True),
        ({"StringNotEquals": {"aws:username": ["a", "b"]}}, True),
        ({"StringNotEquals": {"aws:username": ["ci-bot", "b"]}}, False),
        ({"StringLike": {"aws:principalarn": "arn:aws:iam::*:user/ci-*"}}, True),
        ({"StringNotLike": {"aws:principalarn": "*:role/*"}}, True),
        ({"NumericLessThan": {"aws:epochtime": 1796385601}}, True),
        ({"NumericGreaterThanEquals": {"aws:epochtime": "1796385601"}}, False),
        ({"NumericNotEquals": {"aws:epochtime": 1}}, True),
        ({"DateGreaterThan": {"aws:currenttime": "2026-01-01T00:00:00Z"}}, True),
        ({"DateLessThan": {"aws:currenttime": "2026-12-04T11:59:59Z"}}, False),
        ({"DateLessThanEquals": {"aws:epochtime": "2026-12-04T12:00:00Z"}}, True),  # epoch against ISO
        ({"Bool": {"aws:securetransport": "true"}}, True),
        ({"Bool": {"aws:multifactorauthpresent": True}}, False),
        ({"IpAddress": {"aws:sourceip": "203.0.113.0/24"}}, True),
        ({"IpAddress": {"aws:sourceip": ["10.0.0.0/8", "203.0.113.9/32"]}}, True),
        ({"NotIpAddress": {"aws:sourceip": "203.0.113.0/24"}}, False),
        ({"IpAddress": {"aws:sourceip": "2001:db8::/32"}}, False),
        ({"ArnLike": {"aws:principalarn": "arn:aws:iam::111122223333:user/*"}}, True),
        ({"ArnLike": {"aws:principalarn": "arn:aws:iam::*:role/*"}}, False),
        ({"ArnEquals": {"aws:principalarn": "arn:aws:iam::111122223333:user/ci-bot"}}, True),
        ({"ArnNotLike": {"aws:principalarn": "arn:aws:iam::999999999999:*"}}, True),
        # two operators, two keys: all must hold
        ({"StringEquals": {"aws:username": "ci-bot"}, "Bool": {"aws:securetransport": "false"}}, False),
    ],
)
def test_each_operator(block, expected):
    assert check(block) is expected


def test_an_absent_key_is_false_but_true_for_negated_operators_and_if_exists():
    assert check({"StringEquals": {"aws:requestedregion": "eu-west-1"}}) is False
    assert check({"StringNotEquals": {"aws:requestedregion": "eu-west-1"}}) is True
    assert check({"NotIpAddress": {"aws:vpcsourceip": "10.0.0.0/8"}}) is True
    assert check({"StringEqualsIfExists": {"aws:requestedregion": "eu-west-1"}}) is True
    assert check({"StringEqualsIfExists": {"aws:username": "other"}}) is False  # present: compared
    assert check({"IpAddressIfExists": {"aws:sourceip": "203.0.113.0/24"}}) is True


def test_null_tests_presence():
    assert check({"Null": {"aws:principaltag/team": "false"}}) is True
    assert check({"Null": {"aws:principaltag/cost-center": "true"}}) is True
    assert check({"Null": {"aws:username": "true"}}) is False


def test_set_operators_compare_value_by_value():
    assert check({"ForAllValues:StringEquals": {"aws:tagkeys": ["team", "stage", "owner"]}}) is True
    assert check({"ForAllValues:StringEquals": {"aws:tagkeys": ["team"]}}) is False
    assert check({"ForAnyValue:StringEquals": {"aws:tagkeys": ["stage"]}}) is True
    assert check({"ForAnyValue:StringEquals": {"aws:tagkeys": ["owner"]}}) is False
    assert check({"ForAllValues:StringNotEquals": {"aws:tagkeys": ["secret"]}}) is True
    assert check({"ForAnyValue:StringNotEquals": {"aws:tagkeys": ["team"]}}) is True  # "stage" is not "team"
    # an absent set: every one of its (no) values matches; none is there to match any
    empty = {**CONTEXT, "aws:tagkeys": []}
    assert check({"ForAllValues:StringEquals": {"aws:tagkeys": ["team"]}}, empty) is True
    assert check({"ForAnyValue:StringEquals": {"aws:tagkeys": ["team"]}}, empty) is False
    del empty["aws:tagkeys"]
    assert check({"ForAllValues:StringEquals": {"aws:tagkeys": ["team"]}}, empty) is True
    assert check({"ForAnyValue:StringEquals": {"aws:tagkeys": ["team"]}}, empty) is False


def test_policy_variables():
    assert check({"StringEquals": {"aws:resourcetag/team": "${aws:PrincipalTag/team}"}}) is True
    assert check({"StringLike": {"aws:principalarn": "arn:aws:iam::*:user/${aws:username}"}}) is True
    assert check({"StringEquals": {"aws:username": "${aws:PrincipalTag/missing}"}}) is False
    assert check({"StringEquals": {"aws:username": "${aws:PrincipalTag/missing, 'ci-bot'}"}}) is True
    assert substitute("a${*}b${?}c${$}", CONTEXT) == "a*b?c$"
    assert substitute("team-${aws:username}", CONTEXT) == "team-ci-bot"


@pytest.mark.parametrize(
    "block",
    [
        {"StringEqual": {"aws:username": "x"}},
        {"ForSomeValues:StringEquals": {"aws:tagkeys": "x"}},
        {"NullIfExists": {"aws:username": "true"}},
        {"NumericLessThan": {"aws:epochtime": "soon"}},
        {"DateLessThan": {"aws:currenttime": "yesterday"}},
        {"IpAddress": {"aws:sourceip": "not-a-network"}},
        {"Bool": {"aws:securetransport": "yes"}},
        {"StringEquals": {"aws:username": []}},
        {"StringEquals": {"aws:username": {"nested": 1}}},
        {"StringEquals": {}},
        ["StringEquals"],
    ],
)
def test_documents_iam_would_refuse(block):
    with pytest.raises(ConditionError):
        parse_conditions(block)


def test_a_policy_remembers_which_statements_apply_but_not_what_their_conditions_said():
    from kikoto.domain.policy import evaluate, parse_policy

    policy = parse_policy(
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "ecr:*",
                        "Resource": "*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                    },
                    {
                        "Effect": "Deny",
                        "Action": "ecr:DeleteRepository",
                        "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ]
            }
        ),
        resource_policy=False,
    )
    arn, account, repo = (
        "arn:aws:iam::111122223333:user/a",
        "111122223333",
        "arn:aws:ecr:eu-west-1:111122223333:repository/r",
    )
    for _ in range(2):  # the second round answers from the memo: the same answers
        assert evaluate([policy], arn, account, "ecr:BatchGetImage", repo, {"aws:sourceip": "10.1.2.3"}) == "Allow"
        assert evaluate([policy], arn, account, "ecr:BatchGetImage", repo, {"aws:sourceip": "192.0.2.1"}) is None
        assert evaluate([policy], arn, account, "ecr:BatchGetImage", repo, {}) is None
        over_tls = {"aws:sourceip": "10.1.2.3", "aws:securetransport": "true"}
        assert evaluate([policy], arn, account, "ecr:DeleteRepository", repo, over_tls) == "Allow"
        plain = {"aws:sourceip": "10.1.2.3", "aws:securetransport": "false"}
        assert evaluate([policy], arn, account, "ecr:DeleteRepository", repo, plain) == "Deny"
