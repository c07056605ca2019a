"""The upload's MIME type agrees with the perceptron SDK's own sniffer wherever the SDK declares a type,
and a type the SDK cannot vouch for is never one the mock accepts (the SDK's test table, then fuzzed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from perceptron.files import _sniff_mime_type as sdk_sniff

from perceptron_mock.files.sniff import GENERIC, HEAD_BYTES, SUPPORTED, sniff
from tests.helpers import image_bytes


def ftyp(major: bytes, compatible=(), *, box_size=None) -> bytes:
    payload = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    size = 8 + len(payload) if box_size is None else box_size
    return size.to_bytes(4, "big") + b"ftyp" + payload + b"\x00\x00\x00\x08moov"


def riff(kind: bytes) -> bytes:
    return b"RIFF\x24\x00\x00\x00" + kind + b"fmt \x10\x00\x00\x00"


SDK_TABLE = [  # the cases of the SDK's test_content_type_sniffing
    image_bytes("PNG"), image_bytes("JPEG"), image_bytes("WEBP"), riff(b"WAVE"),
    b"fLaC\x00\x00\x00\x22" + b"\x00" * 16, b"ID3\x04\x00\x00\x00\x00\x00\x00", b"\xff\xfb\x90\x64\x00", b"\xff\xf3\x90\x64\x00",
    ftyp(b"isom", [b"isom", b"iso2", b"avc1", b"mp41"]), ftyp(b"mp42", [b"mp42", b"isom"]), ftyp(b"qt  ", [b"qt  "]),
    b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87\x81\x04",
    b"\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska\x42\x87", ftyp(b"M4V ", [b"M4V "]), ftyp(b"M4A ", [b"M4A "]),
    ftyp(b"heic", [b"mif1", b"heic"]), ftyp(b"isom", [b"isom", b"avif"]), ftyp(b"isom", [b"isom"], box_size=256),
    b"\xff\xf1\x50\x80\x02\x1f\xfc", b"\xff\xfb\xf0\x64\x00", riff(b"AVI "), b"GIF89a\x01\x00", b"%PDF-1.7",
    b"OggS\x00\x02", b"",
]


def accepted(data: bytes) -> str | None:
    mime = sniff(data[:HEAD_BYTES])
    return mime if mime in SUPPORTED else None


@pytest.mark.parametrize("data", SDK_TABLE)
def test_the_sdk_table_sniffs_alike(data):
    assert accepted(data) == sdk_sniff(data)


def test_unsupported_types_are_named_for_the_refusal():
    assert [sniff(d) for d in (b"GIF89a\x01\x00", b"%PDF-1.7", riff(b"AVI "), b"\x00\x01")] == [
        "image/gif", "application/pdf", "video/x-msvideo", GENERIC]


_PREFIXES = st.sampled_from([b"", b"RIFF\x24\x00\x00\x00", b"\x1a\x45\xdf\xa3", b"\xff", b"\x00\x00\x00\x18ftyp", b"ID3", b"fLaC"])


@given(prefix=_PREFIXES, rest=st.binary(max_size=300))
def test_any_bytes_sniff_as_the_sdk_would_declare_them(prefix, rest):
    data = prefix + rest
    assert accepted(data) == sdk_sniff(data)


def test_a_late_avif_brand_in_a_long_ftyp_box_is_still_seen():
    data = ftyp(b"isom", [b"isom"] * 40 + [b"avif"])
    assert accepted(data) is None is sdk_sniff(data)
