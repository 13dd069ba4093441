"""Parsing of the OpenStack-API-Version header."""

import pytest

from nativesnap.api import microversion
from nativesnap import exception

MIN, MAX = microversion.MIN_VERSION, microversion.MAX_VERSION


def test_the_version_range_is_1_0_to_the_last_documented_version():
    assert MIN == (1, 0)
    assert MAX == max(microversion.VERSION_HISTORY)
    assert min(microversion.VERSION_HISTORY) == MIN


@pytest.mark.parametrize("value", [None, ""])
def test_absent_header_means_1_0(value):
    assert microversion.parse_header(value) == (1, 0)


@pytest.mark.parametrize("value", ["snapshot latest", "snapshot LATEST",
                                   "Snapshot Latest"])
def test_latest_means_the_maximum(value):
    assert microversion.parse_header(value) == MAX


@pytest.mark.parametrize("version", sorted(microversion.VERSION_HISTORY))
def test_every_documented_version_is_served(version):
    assert microversion.parse_header(
        f"snapshot {microversion.fmt(version)}") == version


@pytest.mark.parametrize("value", [
    "compute 2.95", "compute 2.95, volume 3.70", "volume latest",
    "compute garbage",
])
def test_other_services_entries_alone_mean_1_0(value):
    assert microversion.parse_header(value) == (1, 0)


@pytest.mark.parametrize("value", [
    "compute 2.95, snapshot 1.1", "snapshot 1.1, compute 2.1",
    "compute 9.9,snapshot 1.1,volume 3.0", "  snapshot   1.1  ",
    "compute not-a-version, snapshot 1.1",
])
def test_other_services_entries_are_ignored(value):
    assert microversion.parse_header(value) == (1, 1)


@pytest.mark.parametrize("value", [
    "snapshot", "snapshot 1", "snapshot 1.", "snapshot .1", "snapshot 1.1.1",
    "snapshot v1.1", "snapshot 01.1", "snapshot 1.01", "snapshot 1.a",
    "snapshot 1.1 extra", "snapshot -1.0", "snapshot 1,1", "snapshot x" * 40,
])
def test_malformed_version_is_a_validation_error(value):
    with pytest.raises(exception.ValidationError) as info:
        microversion.parse_header(value)
    assert info.value.code == 400
    assert microversion.HEADER in str(info.value)
    assert len(str(info.value)) < 300  # long input is not echoed back


@pytest.mark.parametrize("value", ["snapshot 1.3", "snapshot 2.0",
                                   "snapshot 99.0", "snapshot 1.999999"])
def test_too_high_version_is_not_acceptable(value):
    with pytest.raises(exception.VersionNotAcceptable) as info:
        microversion.parse_header(value)
    assert info.value.code == 406
    message = str(info.value)
    assert value.split()[1] in message
    assert microversion.fmt(MIN) in message and microversion.fmt(MAX) in message


def test_too_low_version_is_not_acceptable():
    with pytest.raises(exception.VersionNotAcceptable) as info:
        microversion.parse_header("snapshot 0.9")
    assert info.value.code == 406


def test_format_is_major_dot_minor():
    assert microversion.fmt((1, 10)) == "1.10"
