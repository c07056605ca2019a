"""File-id content parts (``image_file_id``, ``video_file_id``, ``audio_file_id``) resolved to the uploaded file.

An image is opened as a data URL's would be, so its real size sets its tokens; a video or audio file
is checked to exist and be of the part's kind, its tokens estimated as for a URL (nothing decodes it).
"""

from __future__ import annotations

import re

from perceptron_mock.accounting import media_tokens
from perceptron_mock.accounting.image_tokens import image_tokens
from perceptron_mock.accounting.images import ImageInfo, inspect_image_file
from perceptron_mock.files.store import FileStore
from perceptron_mock.protocol.errors import invalid

FILE_ID_PARTS = {"image_file_id": "image", "video_file_id": "video", "audio_file_id": "audio"}
# A file's content URL, which the service's docs say may be sent as an image_url (and the SDK sends for
# video_frames given file ids): {base_url}/files/{id}/content on any host, as the mock cannot tell its own.
CONTENT_URL = re.compile(r"https?://[^/?#]+(?:/[^?#]*)?/files/(file-[A-Za-z0-9]{22})/content")


def content_url_image(url: str, param: str, files: FileStore, *, max_pixels: int) -> ImageInfo | None:
    """The uploaded image an http(s) ``image_url`` names by its content URL, read as an ``image_file_id``
    would be; None when the URL is not one or names no stored image (it is then an unfetched URL)."""
    match = CONTENT_URL.fullmatch(url)
    meta = files.get(match.group(1)) if match else None
    if meta is None or meta.modality != "image":
        return None
    path = files.content_path(meta.id)
    try:
        info = inspect_image_file(str(path), meta.mime, param, max_pixels=max_pixels, sha256=meta.sha256)
    except FileNotFoundError:
        return None
    return ImageInfo(url, info.width, info.height, info.sha256)


def resolve(part, param: str, files: FileStore, *, max_pixels: int) -> tuple[ImageInfo, int, float | None]:
    """(the asset, its tokens, a video's duration) for a file-id part at ``param`` (``messages[i].content[j]``);
    a 400 naming ``<param>.<type>`` when the file is unknown, deleted or of another kind than the part says."""
    kind = part.type
    wanted = FILE_ID_PARTS[kind]
    file_id = getattr(part, kind).file_id
    where = f"{param}.{kind}"
    meta = files.get(file_id)
    if meta is None:
        raise invalid(f"No such File object: {file_id}", where, "file_not_found")
    if meta.modality != wanted:
        raise invalid(
            f"File {file_id} is {meta.mime}, not {'an' if wanted == 'image' else 'a'} {wanted}: "
            f"reference it with a {meta.modality}_file_id part.",
            where,
            "file_type_mismatch",
        )
    if wanted == "image":
        path = files.content_path(file_id)
        try:
            info = inspect_image_file(str(path), meta.mime, where, max_pixels=max_pixels, sha256=meta.sha256)
        except FileNotFoundError:  # deleted since its metadata was read
            raise invalid(f"No such File object: {file_id}", where, "file_not_found") from None
        return ImageInfo(file_id, info.width, info.height, info.sha256), image_tokens(info.width, info.height), None
    if wanted == "video":
        return ImageInfo(file_id, *media_tokens.VIDEO_SIZE), media_tokens.video_url_tokens(), media_tokens.VIDEO_SECONDS
    return ImageInfo(file_id, *media_tokens.VIDEO_SIZE), media_tokens.audio_tokens(), None
