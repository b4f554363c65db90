"""Pull-through cache rules in the domain: which rule covers a name, the upstream repository
it maps to, and which upstream URLs are accepted."""

from __future__ import annotations

import pytest

from kikoto.domain.errors import UnsupportedUpstream
from kikoto.features.pull_through.model import ROOT, Rule, best_rule, check_upstream


def rule(prefix: str, registry: str | None = None, upstream_prefix: str = ROOT) -> Rule:
    return Rule(prefix, registry, "https://example.test", None, None, upstream_prefix, 0.0, 0.0)


@pytest.mark.parametrize(
    ("the_rule", "name", "upstream"),
    [
        (rule("hub", "docker-hub"), "hub/nginx", "library/nginx"),  # official images, as on ECR
        (rule("hub", "docker-hub"), "hub/bitnami/redis", "bitnami/redis"),
        (rule("quay", "quay"), "quay/nginx", "nginx"),  # library/ is Docker Hub's alone
        (rule(ROOT), "team/app", "team/app"),
        (rule("my-app", None, "upstream-app"), "my-app/web", "upstream-app/web"),
        (rule("a/b"), "a/b/c/d", "c/d"),
    ],
)
def test_names_map_to_the_upstream_as_on_ecr(the_rule, name, upstream):
    assert the_rule.covers(name)
    assert the_rule.upstream_repository(name) == upstream


def test_the_most_specific_rule_wins_and_root_comes_last():
    rules = [rule(ROOT), rule("team"), rule("team/ml")]
    assert best_rule(rules, "team/ml/model").prefix == "team/ml"
    assert best_rule(rules, "team/app").prefix == "team"
    assert best_rule(rules, "teamx/app").prefix == ROOT
    assert best_rule([rule("team")], "teamx/app") is None  # a prefix is a whole path segment


def test_known_hosts_name_their_registry_and_others_are_any_oci_registry():
    assert check_upstream(None, "registry-1.docker.io", False) == "docker-hub"
    assert check_upstream(None, "https://ghcr.io", False) == "github-container-registry"
    assert check_upstream(None, "https://registry.example.com:5000", False) is None
    assert check_upstream("azure-container-registry", "myreg.azurecr.io", False) == "azure-container-registry"
    assert check_upstream(None, "http://127.0.0.1:5000", True) is None


@pytest.mark.parametrize(
    ("registry", "url", "allow_insecure", "says"),
    [
        ("docker-hub", "quay.io", False, "registry-1.docker.io"),
        ("azure-container-registry", "example.com", False, "*.azurecr.io"),
        (None, "http://127.0.0.1:5000", False, "pull_through_insecure_upstreams"),
        (None, "ftp://example.com", False, "not a valid registry URL"),
        (None, "https://user:pw@example.com", False, "not a valid registry URL"),
        (None, "https://example.com/v2/", False, "not a path"),
    ],
)
def test_unsupported_upstreams_are_refused_with_a_reason(registry, url, allow_insecure, says):
    with pytest.raises(UnsupportedUpstream) as refused:
        check_upstream(registry, url, allow_insecure)
    assert says in refused.value.message
