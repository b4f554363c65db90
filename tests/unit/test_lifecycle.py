"""The lifecycle engine: every worked example of ECR's documentation, both Kikötő policies,
validation with ECR's messages, and properties that must hold for any input."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kikoto.domain.lifecycle import DAY, Image, LifecycleError, evaluate, parse_policy

NOW = 1_800_000_000.0


def policy(*rules) -> str:
    return json.dumps({"rules": [dict(r, rulePriority=r.get("rulePriority", i + 1)) for i, r in enumerate(rules)]})


def rule(selection, action="expire", **extra):
    return {"selection": selection, "action": {"type": action} if isinstance(action, str) else action, **extra}


def image(name, tags, days_old, **extra) -> Image:
    return Image(name, tuple(tags), NOW - days_old * DAY, **extra)


def expired(text, images, now=NOW) -> set[str]:
    return {d for d, decision in evaluate(parse_policy(text), images, now).items() if decision.action == "expire"}


# -- ECR's worked examples ---------------------------------------------------------------------

ABC = [image("A", ["beta-1", "prod-1"], 10), image("B", ["beta-2", "prod-2"], 9), image("C", ["beta-3"], 8)]


def test_multiple_rules_example_a():
    text = policy(
        rule({"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1}),
        rule({"tagStatus": "tagged", "tagPrefixList": ["beta"], "countType": "imageCountMoreThan", "countNumber": 1}),
    )
    assert expired(text, ABC) == {"A"}


def test_multiple_rules_example_b():
    text = policy(
        rule({"tagStatus": "tagged", "tagPrefixList": ["beta"], "countType": "imageCountMoreThan", "countNumber": 1}),
        rule({"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1}),
    )
    assert expired(text, ABC) == {"A", "B"}


def test_filtering_on_all_images_example():
    images = [
        image("A", ["alpha-1", "beta-1"], 4),
        image("B", [], 3),
        image("C", ["alpha-2"], 2),
        image("D", ["git hash"], 1.05),
        image("E", [], 0.95),
    ]
    text = policy(
        rule({"tagStatus": "tagged", "tagPrefixList": ["alpha"], "countType": "imageCountMoreThan", "countNumber": 1}),
        rule({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}),
        rule({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}),
    )
    decisions = evaluate(parse_policy(text), images, NOW)
    assert {d for d, x in decisions.items() if x.action} == {"A", "B", "D"}
    assert (decisions["A"].rule, decisions["B"].rule, decisions["D"].rule) == (1, 2, 3)


def test_multiple_patterns_must_all_match():
    images = [image("A", ["alpha-1", "beta-1"], 9), image("B", ["alpha-2"], 8), image("C", ["beta-3"], 7)]
    text = policy(
        rule(
            {
                "tagStatus": "tagged",
                "tagPatternList": ["alpha*", "beta*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 5,
            }
        )
    )
    assert expired(text, images) == {"A"}


def test_multiple_patterns_with_count_tags_are_not_exclusive():
    images = [
        image("A", ["alpha-1", "beta-1", "gamma-1"], 3),
        image("B", ["alpha-2", "beta-2"], 2),
        image("C", ["alpha-3", "beta-3", "gamma-2"], 1),
    ]
    text = policy(
        rule(
            {
                "tagStatus": "tagged",
                "tagPatternList": ["alpha*", "beta*"],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            }
        )
    )
    assert expired(text, images) == {"A", "B"}


def test_pattern_wildcards():
    images = [
        image("A", ["prod"], 3),
        image("B", ["production-team1"], 3),
        image("C", ["repo-production"], 3),
        image("D", ["dev"], 3),
    ]
    text = policy(
        rule(
            {
                "tagStatus": "tagged",
                "tagPatternList": ["*prod*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            }
        )
    )
    assert expired(text, images) == {"A", "B", "C"}
    text = policy(
        rule(
            {
                "tagStatus": "tagged",
                "tagPatternList": ["prod*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            }
        )
    )
    assert expired(text, images) == {"A", "B"}


def test_untagged_since_pushed():
    images = [image("old", [], 20), image("new", [], 2), image("tagged", ["v1"], 30)]
    text = policy(
        rule({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14})
    )
    assert expired(text, images) == {"old"}


# -- Kikötő's two policies -------------------------------------------------------------------------


def test_keep_the_last_5_versions_verbatim():
    text = (
        '{"rules":[{"rulePriority":1,"description":"keep last 5","selection":{"tagStatus":"tagged",'
        '"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}'
    )
    images = [image(f"v{i}", [f"1.{i}.0"], 10 - i) for i in range(8)] + [image("loose", [], 30)]
    assert expired(text, images) == {"v0", "v1", "v2"}
    with pytest.raises(LifecycleError, match="tagPrefixList or tagPatternList is required"):
        parse_policy(text, strict=True)


def test_latest_is_never_deleted_everything_else_after_90_days():
    text = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "never delete latest",
                    "selection": {"tagStatus": "tagged", "tagPrefixList": ["latest"]},
                    "action": {"type": "retain"},
                },
                {
                    "rulePriority": 2,
                    "description": "everything else after 90 days",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 90,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )
    images = [
        image("latest", ["latest", "1.0"], 400),
        image("old", ["0.9"], 100),
        image("untagged", [], 95),
        image("recent", ["1.1"], 10),
    ]
    assert expired(text, images) == {"old", "untagged"}
    with pytest.raises(LifecycleError, match="not found in enum"):
        parse_policy(text, strict=True)


def test_retain_with_a_count_keeps_the_newest_and_leaves_the_rest():
    text = policy(
        rule(
            {"tagStatus": "tagged", "tagPrefixList": ["release"], "countType": "imageCountMoreThan", "countNumber": 2},
            action="retain",
        ),
        rule({"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30}),
    )
    images = [image(f"r{i}", [f"release-{i}"], 100 - i) for i in range(4)]
    assert expired(text, images) == {"r0", "r1"}


def test_since_image_pulled_expire_and_fallbacks():
    text = policy(rule({"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30}))
    images = [
        image("never-pulled-old", ["a"], 40),
        image("never-pulled-new", ["b"], 10),
        image("pulled-recently", ["c"], 400, last_pulled_at=NOW - 2 * DAY),
        image("pulled-long-ago", ["d"], 400, last_pulled_at=NOW - 60 * DAY),
        image("restored", ["e"], 400, last_pulled_at=NOW - 300 * DAY, activated_at=NOW - 5 * DAY),
    ]
    assert expired(text, images) == {"never-pulled-old", "pulled-long-ago"}
    with pytest.raises(LifecycleError, match="only be used with action type transition"):
        parse_policy(text, strict=True)


def test_transition_then_expire_archived():
    text = policy(
        rule(
            {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30},
            action={"type": "transition", "targetStorageClass": "archive"},
        ),
        rule(
            {
                "tagStatus": "any",
                "storageClass": "archive",
                "countType": "sinceImageTransitioned",
                "countUnit": "days",
                "countNumber": 90,
            }
        ),
    )
    images = [
        image("idle", ["a"], 100),
        image("busy", ["b"], 100, last_pulled_at=NOW - DAY),
        image("archived-long", ["c"], 500, storage_class="archive", archived_at=NOW - 120 * DAY),
        image("archived-recent", ["d"], 500, storage_class="archive", archived_at=NOW - 10 * DAY),
    ]
    decisions = evaluate(parse_policy(text, strict=True), images, NOW)
    assert {d: x.action for d, x in decisions.items()} == {
        "idle": "transition",
        "busy": None,
        "archived-long": "expire",
        "archived-recent": None,
    }


def test_index_children_and_referrers():
    text = policy(
        rule({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1})
    )
    images = [
        image("index", ["v1"], 10),
        image("child-amd64", [], 10, parents=("index",)),
        image("orphan", [], 10),
        image("signature", [], 10, subject="orphan"),
        image("sbom-of-index", [], 10, subject="index"),
    ]
    assert expired(text, images) == {"orphan", "signature"}
    text = policy(rule({"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}))
    assert expired(text, images) == {"index", "child-amd64", "orphan", "signature", "sbom-of-index"}


# -- validation, with ECR's wording ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,message",
    [
        ("not json", "Could not map policyString into LifecyclePolicy."),
        ('{"rulez": []}', 'object has missing required properties (["rules"])'),
        (
            policy(rule({"tagStatus": "sometimes", "countType": "imageCountMoreThan", "countNumber": 1})),
            'instance value ("sometimes") not found in enum',
        ),
        (
            policy(rule({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0})),
            "numeric instance is lower than the required minimum (minimum: 1, found: 0)",
        ),
        (
            policy(
                rule({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1, "colour": "red"})
            ),
            'object instance has properties which are not allowed by the schema: (["colour"])',
        ),
        (
            policy(
                rule({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}),
                rule({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}),
            ),
            "Only one rule can select Untagged images per storage class.",
        ),
        (
            policy(
                rule({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}),
                rule({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}),
            ),
            "Rule for tagStatus=ANY must have the lowest priority per storage class",
        ),
        (
            policy(
                rule(
                    {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1, "countUnit": "days"}
                )
            ),
            "countUnit cannot be used",
        ),
        (
            policy(rule({"tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 1})),
            "countUnit is required",
        ),
        (
            policy(
                rule(
                    {
                        "tagStatus": "tagged",
                        "tagPatternList": ["a*b*c*d*e*f"],
                        "countType": "imageCountMoreThan",
                        "countNumber": 1,
                    }
                )
            ),
            "more than 4 wildcards",
        ),
        (
            policy(
                rule(
                    {
                        "tagStatus": "untagged",
                        "tagPrefixList": ["x"],
                        "countType": "imageCountMoreThan",
                        "countNumber": 1,
                    }
                )
            ),
            "can only be used with tagStatus tagged",
        ),
        (
            policy(
                rule(
                    {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                    action={"type": "transition"},
                )
            ),
            "targetStorageClass archive is required",
        ),
        (
            policy(
                rule(
                    {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                    action={"type": "expire", "targetStorageClass": None},
                )
            ),
            "instance failed to match exactly one schema (matched 0 out of 2)",
        ),
        (
            policy(
                rule(
                    {
                        "tagStatus": "any",
                        "storageClass": "archive",
                        "countType": "sinceImageTransitioned",
                        "countUnit": "days",
                        "countNumber": 30,
                    }
                )
            ),
            "at least 90 days",
        ),
        (
            json.dumps(
                {
                    "rules": [
                        rule(
                            {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                            rulePriority=1,
                        ),
                        rule(
                            {
                                "tagStatus": "tagged",
                                "tagPrefixList": ["a"],
                                "countType": "imageCountMoreThan",
                                "countNumber": 1,
                            },
                            rulePriority=1,
                        ),
                    ]
                }
            ),
            "The rule priority must be unique",
        ),
    ],
)
def test_validation_messages(text, message):
    with pytest.raises(LifecycleError) as error:
        parse_policy(text)
    assert message in str(error.value)


# -- properties ----------------------------------------------------------------------------------------

TAGS = st.lists(
    st.sampled_from(["prod-1", "prod-2", "beta-1", "beta-2", "latest", "v1", "v2"]), max_size=3, unique=True
)
IMAGES = st.lists(
    st.builds(
        lambda i, tags, age, pulled: Image(
            f"sha256:{i:064x}",
            tuple(tags),
            NOW - age * DAY,
            last_pulled_at=None if pulled is None else NOW - pulled * DAY,
        ),
        st.integers(0, 10**6),
        TAGS,
        st.floats(0, 400),
        st.one_of(st.none(), st.floats(0, 400)),
    ),
    max_size=25,
    unique_by=lambda i: i.digest,
)
SELECTIONS = st.sampled_from(
    [
        {"tagStatus": "tagged", "tagPrefixList": ["prod"]},
        {"tagStatus": "tagged", "tagPatternList": ["beta*"]},
        {"tagStatus": "tagged", "tagPrefixList": ["latest"]},
        {"tagStatus": "untagged"},
        {"tagStatus": "tagged"},
    ]
)
COUNTS = st.one_of(
    st.builds(lambda n: {"countType": "imageCountMoreThan", "countNumber": n}, st.integers(1, 6)),
    st.builds(
        lambda t, n: {"countType": t, "countUnit": "days", "countNumber": n},
        st.sampled_from(["sinceImagePushed", "sinceImagePulled"]),
        st.integers(1, 300),
    ),
)


@st.composite
def policies(draw):
    chosen, rules, untagged = (
        draw(st.lists(st.tuples(SELECTIONS, COUNTS, st.sampled_from(["expire", "retain"])), min_size=1, max_size=4)),
        [],
        False,
    )
    seen = set()
    for selection, count, action in chosen:
        key = json.dumps(selection, sort_keys=True)
        if key in seen or (selection["tagStatus"] == "untagged" and untagged):
            continue
        seen.add(key)
        untagged |= selection["tagStatus"] == "untagged"
        rules.append(rule({**selection, **count}, action=action, rulePriority=len(rules) + 1))
    return json.dumps({"rules": rules})


@settings(max_examples=300, deadline=None)
@given(policies(), IMAGES)
def test_properties(text, images):
    parsed = parse_policy(text)
    decisions = evaluate(parsed, images, NOW)
    # one decision per image, and only the actions the policy has
    assert set(decisions) == {i.digest for i in images}
    assert all(d.action in (None, "expire") for d in decisions.values())
    # nothing protected by a higher-priority rule is touched by a lower one
    from kikoto.domain.lifecycle import selects

    for img in images:
        decision = decisions[img.digest]
        if decision.action:
            assert all(not selects(r, img) for r in parsed.rules if r.priority < decision.rule and r.action != "retain")
    # the result does not depend on input order
    assert evaluate(parsed, list(reversed(images)), NOW) == decisions


@settings(max_examples=200, deadline=None)
@given(IMAGES, st.integers(1, 8))
def test_image_count_keeps_exactly_the_newest_n(images, keep):
    text = policy(rule({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep}))
    decisions = evaluate(parse_policy(text), images, NOW)
    kept = [i for i in images if decisions[i.digest].action is None]
    assert len(kept) == min(keep, len(images))
    newest = sorted(images, key=lambda i: (i.pushed_at, i.digest))[-keep:] if images else []
    assert {i.digest for i in kept} == {i.digest for i in newest}
