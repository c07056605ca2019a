"""Image parts: URL rules, data-URL decoding and a format check on the real bytes.

http(s) URLs are never fetched (the mock is offline and must not reach other hosts); data URLs are
opened with Pillow, which reads the header only, so a 20 MB image is never decoded in full.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import struct
import warnings
from typing import Any
from dataclasses import dataclass
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError

from perceptron_mock.protocol.errors import invalid

ALLOWED_MIME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_MIME_OF_FORMAT = {fmt: mime for mime, fmt in ALLOWED_MIME.items()}


@dataclass(frozen=True)
class ImageInfo:
    """What the rest of the mock needs to know about one image part."""

    url: str  # the URL as sent, or "data:<mime>" for a data URL (the payload is not kept)
    width: int
    height: int
    sha256: str | None = None  # of the decoded bytes; None for http(s) URLs


def _ends_complete(fmt: str, data: bytes) -> bool:
    if fmt == "PNG":
        return data.endswith(b"IEND\xaeB`\x82")
    if fmt == "JPEG":
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "WEBP":
        declared = struct.unpack_from("<I", data, 4)[0] + 8 if len(data) >= 8 else 0
        return 12 < declared <= len(data)
    return False


def _sniff(data: bytes) -> str | None:
    """The format the bytes really are, from their magic number."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def _decode_base64(url: str, start: int) -> bytes:
    """The base64 payload of ``url`` from ``start``, decoded strictly (only the alphabet, padding only
    at the end; ``perceptron_mock.protocol.data_urls`` decodes a lifted payload the same way). Slicing the payload
    out, encoding it to ASCII and decoding it would each hold one more whole copy; this holds one (the
    ASCII bytes)."""
    return binascii.a2b_base64(memoryview(url.encode("ascii"))[start:], strict_mode=True)


def _data_url_mime(header: str, param: str) -> str:
    """The MIME type of a data URL's ``header`` (``data:<mime>;base64``), if it is one we take."""
    meta = header[5:].split(";")
    mime = meta[0].strip().lower()
    if mime not in ALLOWED_MIME:
        raise invalid(
            f"Unsupported image MIME type '{mime[:40]}'. Supported: image/png, image/jpeg, image/webp.",
            param,
            "unsupported_image_format",
        )
    if "base64" not in (part.strip().lower() for part in meta[1:]):
        raise invalid("Invalid data URL: images must be base64-encoded (';base64,').", param, "invalid_image_url")
    return mime


def _inspect_data_url(url: str, param: str, *, max_pixels: int, decoded: bytes | None = None) -> ImageInfo:
    """Check one data URL. ``decoded`` is its image when the payload was lifted out of the request body
    and decoded there; ``url`` then ends in a placeholder after the comma, and its header is checked as
    sent."""
    comma = url.find(",")
    if comma < 0:
        raise invalid("Invalid data URL: expected 'data:<mime>;base64,<data>'.", param, "invalid_image_url")
    mime = _data_url_mime(url[:comma], param)
    try:
        data = decoded if decoded is not None else _decode_base64(url, comma + 1)
    except ValueError:  # binascii.Error, and UnicodeEncodeError for a non-ASCII payload
        raise invalid("Invalid data URL: the payload is not valid base64.", param, "invalid_base64") from None
    return _inspect_image(data, mime, param, max_pixels=max_pixels)


def _inspect_image(data: bytes, mime: str, param: str, *, max_pixels: int) -> ImageInfo:
    if not data:
        raise invalid("Invalid data URL: the image is empty.", param, "invalid_image")
    sniffed = _sniff(data)
    if sniffed is not None and sniffed != ALLOWED_MIME[mime]:
        if sniffed in _MIME_OF_FORMAT:
            raise invalid(
                f"The data URL says {mime} but the bytes are {_MIME_OF_FORMAT[sniffed]}.", param, "image_format_mismatch"
            )
        raise invalid(
            f"The image is {sniffed}, which is not supported. Supported: image/png, image/jpeg, image/webp.",
            param,
            "unsupported_image_format",
        )
    if sniffed is None:
        raise invalid("The data URL does not contain a readable PNG, JPEG or WebP image.", param, "invalid_image")
    if not _ends_complete(sniffed, data):
        raise invalid(f"The {sniffed} image is truncated.", param, "truncated_image")
    width, height = _pixels(io.BytesIO(data), sniffed, param, max_pixels=max_pixels)
    # The bytes are the format the URL's MIME type says (any other is refused above).
    return ImageInfo(url=f"data:{mime}", width=width, height=height, sha256=hashlib.sha256(data).hexdigest())


def inspect_image_url(
    url: str, param: str, *, max_pixels: int, assumed_size: tuple[int, int], decoded: bytes | None = None
) -> ImageInfo:
    """Check one ``image_url.url``; ``param`` is its path in the request, for errors; ``decoded`` is
    its image when it was lifted out of the body (see ``_inspect_data_url``)."""
    scheme = url[:5].lower()
    if scheme == "data:":
        return _inspect_data_url(url, param, max_pixels=max_pixels, decoded=decoded)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid(
            "Invalid image URL: expected an http(s) URL or a base64 data URL (data:image/png;base64,...).",
            param,
            "invalid_image_url",
        )
    width, height = assumed_size
    return ImageInfo(url=url, width=width, height=height)


def inspect_image_file(path: str, mime: str, param: str, *, max_pixels: int, sha256: str) -> ImageInfo:
    """Check an uploaded image as a data URL's is checked (format, completeness, pixels), reading only
    its first and last bytes and the header Pillow needs; its digest was taken when it was stored."""
    with open(path, "rb") as handle:
        head = handle.read(64)
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 4096))
        tail = handle.read()
    sniffed = _sniff(head)
    if sniffed is None or sniffed != ALLOWED_MIME.get(mime):
        raise invalid("The file does not contain a readable PNG, JPEG or WebP image.", param, "invalid_image")
    complete = (
        12 < struct.unpack_from("<I", head, 4)[0] + 8 <= size if sniffed == "WEBP" else _ends_complete(sniffed, tail)
    )
    if not complete:
        raise invalid(f"The {sniffed} image is truncated.", param, "truncated_image")
    width, height = _pixels(path, sniffed, param, max_pixels=max_pixels)
    return ImageInfo(url=f"data:{mime}", width=width, height=height, sha256=sha256)


def _pixels(source: Any, sniffed: str, param: str, *, max_pixels: int) -> tuple[int, int]:
    """An image's width and height as Pillow reads its header (``source``: bytes in a BytesIO, or a
    path), refused when corrupt or over ``max_pixels``: data URLs and uploaded files alike."""
    with warnings.catch_warnings():
        # Pillow warns between MAX_IMAGE_PIXELS and twice that; our own limit decides instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(source, formats=(sniffed,)) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            raise invalid("The image declares too many pixels to be processed.", param, "image_too_large") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
            raise invalid(f"The {sniffed} image is corrupt and cannot be read.", param, "invalid_image") from None
    if width < 1 or height < 1 or width * height > max_pixels:
        raise invalid(
            f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted.", param, "image_too_large"
        )
    return width, height
