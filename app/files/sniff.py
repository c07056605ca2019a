"""The MIME type of an upload, from its first bytes, as the service's sniffer (Rust ``infer``) reports it.

The supported types follow the perceptron SDK's own sniffer (``perceptron/files.py``), which declares a
type only where the service is certain to agree; a few others are named so that a refusal can say what it saw.
"""

from __future__ import annotations

HEAD_BYTES = 0x10000  # what sniffing reads of a file: an ISO BMFF `ftyp` box, whose brands decide, is smaller

# Supported types, each with the catalog modality that uses it.
SUPPORTED = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/webp": "image",
    "video/mp4": "video",
    "video/quicktime": "video",
    "video/webm": "video",
    "audio/wav": "audio",
    "audio/mpeg": "audio",
    "audio/flac": "audio",
}
GENERIC = "application/octet-stream"

_PREFIXES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_MP4_BRANDS = frozenset(
    {b"avc1", b"dash", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"isom", b"mmp4", b"mp41", b"mp42", b"mp4v"}
    | {b"mp71", b"MSNV", b"NDAS", b"NDSC", b"NSDC", b"NDSH", b"NDSM", b"NDSP", b"NDSS", b"NDXC", b"NDXH", b"NDXM"}
    | {b"NDXP", b"NDXS", b"F4V ", b"F4P "}
)
_OTHER_BRANDS = {b"M4V ": "video/x-m4v", b"M4A ": "audio/m4a", b"heic": "image/heic", b"heix": "image/heic"}
# Unsupported types named in refusals ("Unsupported content type 'image/gif'.").
_UNSUPPORTED_PREFIXES = (
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"PK\x03\x04", "application/zip"),
)
# An MPEG Layer III frame header: frame sync, a version that is not reserved, layer III, a valid
# bitrate and a sample rate that is not reserved (byte, mask, value, must match).
_MP3_FRAME = ((0, 0xFF, 0xFF, True), (1, 0xE0, 0xE0, True), (1, 0x18, 0x08, False), (1, 0x06, 0x02, True),
              (2, 0xF0, 0xF0, False), (2, 0x0C, 0x0C, False))


def _iso_bmff(data: bytes) -> str | None:
    size = int.from_bytes(data[:4], "big")
    if size == 0x100 or size >= 0x10000 or len(data) < 16:
        return None
    compatible = {data[i : i + 4] for i in range(16, min(size, len(data)) - 3, 4)}
    if compatible & {b"avif", b"avis"}:
        return "image/avif"
    major = data[8:12]
    if major in _MP4_BRANDS:
        return "video/mp4"
    if major == b"qt  ":
        return "video/quicktime"
    return _OTHER_BRANDS.get(major)


def sniff(head: bytes) -> str:
    """The MIME type of a file that starts with ``head`` (its first ``HEAD_BYTES``); ``GENERIC`` when unknown."""
    for prefix, mime in _PREFIXES:
        if head.startswith(prefix):
            return mime
    if head[:4] == b"RIFF":
        return _RIFF.get(head[8:12], GENERIC)
    if head[4:8] == b"ftyp":
        return _iso_bmff(head) or GENERIC
    if head[:4] == b"\x1a\x45\xdf\xa3":
        matroska = head[4:16] == b"\x93\x42\x82\x88matroska" or head[31:39] == b"matroska"
        return "video/x-matroska" if matroska else "video/webm"
    if len(head) >= 3 and all((head[i] & mask == value) is match for i, mask, value, match in _MP3_FRAME):
        return "audio/mpeg"
    for prefix, mime in _UNSUPPORTED_PREFIXES:
        if head.startswith(prefix):
            return mime
    return GENERIC
