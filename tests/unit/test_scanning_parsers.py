"""The scanner's parsers and version orders, on each format's and ecosystem's own documented
examples (dpkg, apk, rpm, PEP 440, semver, Go, Maven), and OSV's range semantics."""

from __future__ import annotations

import pytest

from kikoto.features.scanning.inventory import (
    GO_MAGIC,
    Package,
    parse_apk_installed,
    parse_dpkg_status,
    parse_go_buildinfo,
    parse_os_release,
    parse_python_metadata,
    parse_rpm_header,
    wanted,
)
from kikoto.features.scanning.matching import affected, ecosystem, lookup_name, severity
from tests.e2e.scan_images import rpm_header

# (ecosystem, lower, higher): the ecosystems' own ordering examples
ORDERS = [
    ("Debian:12", "1.0~rc1-1", "1.0-1"),  # ~ sorts before anything (Debian Policy 5.6.12)
    ("Debian:12", "2.9-1", "1:1.0-1"),  # the epoch wins
    ("Debian:12", "1.0-1", "1.0-1+deb12u1"),
    ("Alpine:v3.19", "1.2.3-r1", "1.2.3-r10"),
    ("Alpine:v3.19", "1.2.3_rc1", "1.2.3"),  # apk: _rc before the release
    ("Alpine:v3.19", "1.2.3", "1.2.3_p1"),  # _p (patch) after it
    ("Rocky Linux:9", "1.0-1.el9", "1.0-2.el9"),
    ("Rocky Linux:9", "1.0~rc1-1", "1.0-1"),  # rpmvercmp: tilde before
    ("Rocky Linux:9", "2:1.0-1", "10:0.1-1"),
    ("PyPI", "1.0.dev1", "1.0a1"),  # PEP 440: dev < a < b < rc < final < post
    ("PyPI", "1.0a1", "1.0b1"),
    ("PyPI", "1.0rc1", "1.0"),
    ("PyPI", "1.0", "1.0.post1"),
    ("npm", "1.0.0-alpha", "1.0.0-alpha.1"),  # semver 2.0.0 §11
    ("npm", "1.0.0-beta.11", "1.0.0-rc.1"),
    ("npm", "1.0.0-rc.1", "1.0.0"),
    ("Go", "1.2.3", "1.10.0"),
    ("Maven", "1.0-alpha-1", "1.0-beta-1"),  # Maven ComparableVersion: alpha < beta < milestone < rc
    ("Maven", "1.0-rc1", "1.0-SNAPSHOT"),
    ("Maven", "1.0-SNAPSHOT", "1.0"),
    ("Maven", "1.0", "1.0-sp1"),
]


@pytest.mark.parametrize(("ecosystem_name", "lower", "higher"), ORDERS)
def test_each_ecosystem_orders_versions_its_own_way(ecosystem_name, lower, higher):
    entry = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": higher}]}]}
    assert affected(entry, lower, ecosystem_name)[0] is True
    assert affected(entry, higher, ecosystem_name)[0] is False


def test_osv_ranges_introduced_fixed_last_affected_limit_and_versions():
    span = {
        "type": "ECOSYSTEM",
        "events": [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"last_affected": "2.2"}],
    }
    entry = {"ranges": [span], "versions": ["0.9-special"]}
    checks = {
        "0.9": False,
        "1.0": True,
        "1.4.9": True,
        "1.5": False,
        "1.9": False,
        "2.0": True,
        "2.2": True,
        "2.3": False,
    }
    for version, hit in checks.items():
        assert affected(entry, version, "PyPI")[0] is hit, version
    assert affected(entry, "1.2", "PyPI") == (True, "1.5")
    assert affected(entry, "0.9-special", "PyPI")[0] is True  # listed explicitly
    limited = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"limit": "3.0"}]}]}
    assert affected(limited, "2.9", "PyPI")[0] and not affected(limited, "3.0", "PyPI")[0]
    git = {"ranges": [{"type": "GIT", "events": [{"introduced": "0"}, {"fixed": "abc"}]}]}
    assert affected(git, "1.0", "PyPI")[0] is False  # commit ranges say nothing about versions


def test_severity_from_cvss_v3_v4_and_ratings():
    v3 = {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}
    assert severity(v3, {})[:2] == ("CRITICAL", 9.8)
    v4 = {"severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"}]}
    assert severity(v4, {})[0] == "MEDIUM"
    assert severity({"database_specific": {"severity": "MODERATE"}}, {})[0] == "MEDIUM"
    assert severity({}, {"ecosystem_specific": {"urgency": "unimportant"}})[0] == "INFORMATIONAL"
    assert severity({"severity": [{"type": "CVSS_V3", "score": "nonsense"}]}, {})[0] == "UNDEFINED"


def test_package_databases_parse():
    status = (
        "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1\nSource: openssl (3.0.11-1)\n\n"
        "Package: removed\nStatus: deinstall ok config-files\nVersion: 1.0\n"
    )
    assert parse_dpkg_status(status, "s") == [Package("deb", "libssl3", "3.0.11-1", "s", "openssl")]
    apk = "P:busybox\nV:1.36.1-r15\no:busybox\n\nP:musl\nV:1.2.4-r2\n"
    assert [(p.name, p.version) for p in parse_apk_installed(apk, "a")] == [
        ("busybox", "1.36.1-r15"),
        ("musl", "1.2.4-r2"),
    ]
    assert parse_python_metadata("Name: Requests\nVersion: 2.28.0\n\nName: not-this\n", "m").name == "Requests"
    assert lookup_name(Package("pypi", "Zope.Interface_x", "1", "")) == "zope-interface-x"
    assert parse_os_release("ID=alpine\nVERSION_ID=3.19.1\n").version_id == "3.19.1"
    assert ecosystem(Package("apk", "x", "1", ""), parse_os_release("ID=alpine\nVERSION_ID=3.19.1")) == "Alpine:v3.19"
    assert wanted("var/lib/dpkg/status.d/base", False) == "dpkg"  # distroless
    assert wanted("usr/lib/python3/site-packages/x.egg-info/PKG-INFO", False) == "python"
    assert wanted("usr/bin/tool", True) == "binary" and wanted("usr/share/doc/x", False) is None


def test_an_rpm_header_blob_parses():
    package = parse_rpm_header(rpm_header("openssl", "3.0.7", "24.el9", 1), "rpmdb")
    assert package == Package("rpm", "openssl", "1:3.0.7-24.el9", "rpmdb", "openssl")
    assert parse_rpm_header(b"\x00\x00\x00\x05garbage", "x") is None


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def test_go_build_info_parses():
    modinfo = (
        b"0123456789abcdef"
        b"path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
        b"dep\tgolang.org/x/text\tv0.3.7\th1:abc=\n"
        b"dep\texample.com/dep\tv1.2.3\t\n=>\t./dep\tv1.2.4\t\n"
        b"fedcba9876543210"
    )
    header = GO_MAGIC + bytes([8, 2]) + b"\0" * 16
    data = header + _varint(8) + b"go1.21.5" + _varint(len(modinfo)) + modinfo
    found = {(p.name, p.version) for p in parse_go_buildinfo(data, "bin")}
    assert found == {
        ("stdlib", "1.21.5"),
        ("example.com/app", "(devel)"),
        ("golang.org/x/text", "v0.3.7"),
        ("example.com/dep", "v1.2.4"),
    }
    assert parse_go_buildinfo(GO_MAGIC + bytes([8, 0]) + b"\0" * 16, "old") == []  # pre-1.18 layout: not read
