"""The admin commands as a new user meets them first: listings are empty, and each prints its
header and says there is nothing, instead of nothing at all (which reads as a silent failure);
and a command run where there is no registry says so instead of making one."""

from __future__ import annotations

import pytest

from .conftest import Server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("command", "header"),
    [
        (["peers", "list"], "REGION\tREGISTRY ID\tURL\tKIND\tACCESS KEY ID"),
        (["events", "list-targets"], "NAME\tURL\tFORMAT\tSIGNATURE\tPATTERN"),
        (["events", "deliveries"], "ID\tTARGET\tEVENT\tSTATUS\tATTEMPTS\tUPDATED\tLAST ERROR"),
        (["signing-keys", "list"], "NAME\tPROFILE ARN\tCREATED"),
    ],
)
def test_an_empty_listing_says_so_under_its_header(tmp_path, command, header):
    registry = Server(tmp_path / "data", workers=1)  # its storage only: the commands run beside no server
    assert registry.kikoto(*command, "--init").stdout.splitlines() == [header, "(none)"]


def test_an_admin_command_where_there_is_no_registry_refuses_to_make_one(tmp_path):
    """Run from another directory, `kikoto keys create` once made a new ./data registry with a new
    admin key, silently. Now it says where to look, and creates one only with --init."""
    elsewhere = Server(tmp_path / "data", workers=1)
    refused = elsewhere.kikoto("keys", "create", "ci", check=False)
    assert refused.returncode != 0 and "no registry in" in refused.stderr and "--init" in refused.stderr
    assert not (tmp_path / "data" / "kikoto.db").exists()
    created = elsewhere.kikoto("keys", "create", "ci", "--init")
    assert "AWS_ACCESS_KEY_ID=" in created.stdout and (tmp_path / "data" / "kikoto.db").exists()  # as asked
    assert elsewhere.kikoto("keys", "list").returncode == 0  # and from then on it is found
