"""The admin commands' listings, as a new user meets them first: empty. Each prints its header
and says there is nothing, instead of printing nothing at all (which reads as a silent failure)."""

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
    assert registry.kikoto(*command).stdout.splitlines() == [header, "(none)"]
