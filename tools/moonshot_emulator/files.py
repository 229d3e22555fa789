"""The Files API: upload (with extraction), list, retrieve, delete, content (reference §2).

Upload checks run in this order: purpose, zero size, per-file size, file count, total bytes.
Extraction runs in a worker thread at upload time, so the FileObject already carries the final
"ok"/"error" status as the real captures do. Only the total-bytes message is invented (the
provider's text is unknown); the not-found body for a missing file id is a guess too.
"""

from __future__ import annotations

import time

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from tools.moonshot_emulator import wire
from tools.moonshot_emulator.config import EmulatorConfig
from tools.moonshot_emulator.extract import extract, sniff
from tools.moonshot_emulator.faults import Faults
from tools.moonshot_emulator.state import State, StoredFile, new_file_id

MAX_LIST_LIMIT = 10_000


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def file_object(stored: StoredFile, config: EmulatorConfig) -> dict[str, object]:
    """The FileObject, with the status word for an extracted file that the config plays."""
    data = stored.as_object()
    if stored.status == "ok":
        data["status"] = config.file_status_ok
    return data


def file_not_found(file_id: str) -> Response:
    return wire.error_response(
        404, "resource_not_found_error", f"Not found the file {file_id} or Permission denied"
    )


async def upload(
    request: Request, config: EmulatorConfig, state: State, faults: Faults
) -> Response:
    async with request.form(max_files=1, max_fields=10) as form:
        purpose = form.get("purpose")
        upload = form.get("file")
        if not isinstance(purpose, str) or purpose not in config.purposes:
            return wire.invalid_request("Invalid purpose: only 'file-extract' accepted")
        if not isinstance(upload, UploadFile):
            return wire.invalid_request("Invalid request: the multipart field 'file' is required")
        data = await upload.read()
        filename = upload.filename or "upload"
    if not data:
        return wire.invalid_request("File size is zero, please confirm and re-upload the file")
    if len(data) > config.max_file_bytes:
        return wire.invalid_request(
            f"File size is too large, max file size is {human_size(config.max_file_bytes)}, "
            "please confirm and re-upload the file"
        )
    count, total = state.file_totals()
    if count >= config.max_files:
        return wire.invalid_request(
            "The number of files you have uploaded exceeded the max file count "
            f"{config.max_files}, please delete previous uploaded files"
        )
    if total + len(data) > config.max_total_bytes:
        return wire.invalid_request(  # invented: the provider's text is unknown
            "The total size of the files you have uploaded exceeded the max total size "
            f"{human_size(config.max_total_bytes)}, please delete previous uploaded files"
        )
    if config.extract_delay:
        await anyio.sleep(config.extract_delay)
    reason = faults.extraction_failure(filename)
    forced = faults.extraction_text(filename)
    if reason is None and forced is not None:
        status, content, file_type, reason = "ok", forced, sniff(data), ""
    elif reason is None:
        result = await run_in_threadpool(extract, filename, data)
        status, content, file_type, reason = (
            result.status,
            result.content,
            result.file_type,
            result.error,
        )
    else:
        status, content, file_type = "error", "", sniff(data)
    stored = StoredFile(
        id=new_file_id(),
        filename=filename,
        bytes=len(data),
        purpose=purpose,
        status=status,
        content=content,
        created_at=int(time.time()),
        file_type=file_type,
        error=reason,
    )
    state.add_file(stored)
    return wire.json_response(file_object(stored, config))


def list_files(request: Request, config: EmulatorConfig, state: State) -> Response:
    """Creation order; honours `after`, `limit`, `order` and `purpose` so the openai SDK's
    auto-pagination ends with an empty page (reference §10.4), unless the config plays a
    provider that ignores them. No `has_more`, as observed, unless the config asks for it."""
    params = request.query_params
    files = list(state.files.values())
    if config.list_ignores_pagination:
        params = type(params)()  # every query parameter ignored: the full list again
    if params.get("order") == "desc":
        files.reverse()
    if params.get("purpose"):
        files = [f for f in files if f.purpose == params["purpose"]]
    after = params.get("after")
    if after:
        ids = [f.id for f in files]
        files = files[ids.index(after) + 1 :] if after in ids else []
    limit = params.get("limit")
    if limit is not None:
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIST_LIMIT:
            return wire.invalid_request(
                f"Invalid request: limit must be an integer between 1 and {MAX_LIST_LIMIT}"
            )
        files = files[: int(limit)]
    elif config.list_page_size and not config.list_ignores_pagination:
        files = files[: config.list_page_size]
    body: dict[str, object] = {"object": "list", "data": [file_object(f, config) for f in files]}
    if config.list_has_more:
        body["has_more"] = False
    return wire.json_response(body)


def retrieve(file_id: str, config: EmulatorConfig, state: State) -> Response:
    stored = state.get_file(file_id)
    return wire.json_response(file_object(stored, config)) if stored else file_not_found(file_id)


def delete(file_id: str, state: State) -> Response:
    if not state.delete_file(file_id):
        return file_not_found(file_id)
    return wire.json_response({"deleted": True, "id": file_id, "object": "file"})


def content(file_id: str, config: EmulatorConfig, state: State) -> Response:
    """The compact, alphabetically keyed JSON of reference §2.6 (or, as configured, the text
    alone as text/plain), or the extraction failure in its documented or observed form."""
    stored = state.get_file(file_id)
    if stored is None:
        return file_not_found(file_id)
    if stored.status != "ok":
        if config.extract_error_style == "observed":
            return wire.error_response(500, "", "extract task failed: failed")
        return wire.error_response(500, "server_error", f"Failed to extract file: {stored.error}")
    if config.content_format == "plain":
        # UTF-8 cannot carry a surrogate: a pair goes out as its character, a lone one as
        # U+FFFD, as any UTF-8 encoder with replacement writes it. NUL and controls stay.
        body = stored.content.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return Response(body, media_type="text/plain; charset=utf-8")
    return wire.json_response(
        {
            "content": stored.content,
            "file_type": stored.file_type,
            "filename": stored.filename,
            "title": "",
            "type": "file",
        }
    )
