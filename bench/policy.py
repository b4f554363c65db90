"""The cost of one authorisation decision with IAM Conditions: a 100-statement policy whose
statements each test the source address (a CIDR), a tag against a policy variable and the
region, the matching statement last, so every statement is read. Median of 2,000 decisions;
and of 200 first decisions (which statements apply to a principal, action and resource is worked
out once, then only their Conditions are evaluated per request).

    .venv/bin/python bench/policy.py
"""

from __future__ import annotations

import json
import statistics
import time

from kikoto.domain.policy import Statements, evaluate, parse_policy

ACCOUNT = "111122223333"


def documents(statements: int) -> list[str]:
    """One document a statement: 100 such statements are past IAM's size quota for one
    document (6,144 characters), and the engine reads a principal's documents as one list."""
    body = [
        {
            "Sid": f"Team{n}",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team-{n}/*",
            "Condition": {
                "IpAddress": {"aws:SourceIp": [f"10.{n}.0.0/16", "2001:db8::/32"]},
                "StringEquals": {
                    "aws:ResourceTag/team": "${aws:PrincipalTag/team}",
                    "aws:RequestedRegion": "eu-west-1",
                },
            },
        }
        for n in range(statements)
    ]
    return [json.dumps({"Version": "2012-10-17", "Statement": [statement]}) for statement in body]


def main() -> None:
    statements = Statements(s for text in documents(100) for s in parse_policy(text, resource_policy=False))
    context = {
        "aws:sourceip": "10.99.3.4",
        "aws:resourcetag/team": "web",
        "aws:principaltag/team": "web",
        "aws:requestedregion": "eu-west-1",
    }
    resource = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team-99/app"
    arn = f"arn:aws:iam::{ACCOUNT}:user/ci"
    assert evaluate([statements], arn, ACCOUNT, "ecr:BatchGetImage", resource, context) == "Allow"
    results: dict[str, object] = {"statements": 100}
    for label, cold in (
        ("decision (µs, median)", False),
        ("first decision of a (principal, action, resource) (µs)", True),
    ):
        samples = []
        for _ in range(200 if cold else 2000):
            if cold:
                statements.__dict__["memo"].clear()
            started = time.perf_counter()
            evaluate([statements], arn, ACCOUNT, "ecr:BatchGetImage", resource, context)
            samples.append((time.perf_counter() - started) * 1e6)
        results[label] = round(statistics.median(samples), 1)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
