"""Blob reads, deletes, mounts and every upload flow, with their error codes."""

import asyncio
import hashlib
import os

from ..helpers import error_code, push_blob, sha256

DATA = os.urandom(300_000)


async def _start(client, repo="app", query=""):
    response = await client.post(f"/v2/{repo}/blobs/uploads/{query}")
    assert response.status == 202, await response.text()
    assert response.headers["Range"] == "0-0"
    return response.headers["Location"]


async def test_monolithic_post_then_get_head_range(client):
    digest = await push_blob(client, "app", DATA)
    response = await client.get(f"/v2/app/blobs/{digest}")
    assert response.status == 200
    assert await response.read() == DATA
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Content-Type"] == "application/octet-stream"

    response = await client.head(f"/v2/app/blobs/{digest}")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["Docker-Content-Digest"] == digest

    response = await client.get(f"/v2/app/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert response.status == 206
    assert await response.read() == DATA[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"

    response = await client.get(f"/v2/app/blobs/{digest}", headers={"Range": f"bytes={len(DATA) + 5}-"})
    assert response.status == 416


async def test_garbage_range_header_is_a_4xx_never_a_500(client):
    digest = await push_blob(client, "app", DATA)
    for value, expected in [("bytes=abc", 416), ("lines=1-2", 416), ("bytes=5-1", 416), ("bytes=--", 416)]:
        response = await client.get(f"/v2/app/blobs/{digest}", headers={"Range": value})
        assert response.status == expected, (value, response.status)


async def test_post_then_put_with_whole_body(client):
    location = await _start(client)
    response = await client.put(f"{location}?digest={sha256(DATA)}", data=DATA)
    assert response.status == 201
    assert response.headers["Location"] == f"/v2/app/blobs/{sha256(DATA)}"


async def test_chunked_upload_with_content_range_and_status(client):
    location = await _start(client)
    first, second, last = DATA[:100_000], DATA[100_000:250_000], DATA[250_000:]
    response = await client.patch(location, data=first, headers={"Content-Range": "0-99999"})
    assert response.status == 202
    assert response.headers["Range"] == "0-99999"
    response = await client.patch(response.headers["Location"], data=second, headers={"Content-Range": "100000-249999"})
    assert response.headers["Range"] == "0-249999"

    response = await client.get(location)
    assert response.status == 204
    assert response.headers["Range"] == "0-249999"

    # an out-of-order chunk is refused with 416 and the current range
    response = await client.patch(location, data=b"x" * 10, headers={"Content-Range": "0-9"})
    assert response.status == 416
    assert response.headers["Range"] == "0-249999"

    response = await client.put(
        f"{location}?digest={sha256(DATA)}", data=last, headers={"Content-Range": f"250000-{len(DATA) - 1}"}
    )
    assert response.status == 201
    assert await (await client.get(f"/v2/app/blobs/{sha256(DATA)}")).read() == DATA


async def test_streamed_patch_without_content_range(client):
    location = await _start(client)

    async def stream():
        for i in range(0, len(DATA), 70_000):
            yield DATA[i : i + 70_000]

    response = await client.patch(location, data=stream())
    assert response.status == 202
    assert response.headers["Range"] == f"0-{len(DATA) - 1}"
    response = await client.put(f"{location}?digest={sha256(DATA)}")
    assert response.status == 201


async def test_sha512_uploads(client):
    location = await _start(client, query="?digest-algorithm=sha512")
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    await client.patch(location, data=DATA, headers={"Content-Range": f"0-{len(DATA) - 1}"})
    response = await client.put(f"{location}?digest={digest}")
    assert response.status == 201
    assert response.headers["Docker-Content-Digest"] == digest
    response = await client.post(f"/v2/app/blobs/uploads/?digest={digest}", data=DATA)  # monolithic sha512
    assert response.status == 201
    response = await client.get(f"/v2/app/blobs/{digest}")
    assert await response.read() == DATA


async def test_unsupported_digest_algorithm(client):
    response = await client.post("/v2/app/blobs/uploads/?digest-algorithm=md5")
    assert response.status == 400
    assert await error_code(response) == "DIGEST_INVALID"


async def test_wrong_digest_stores_nothing(client):
    wrong = sha256(b"something else")
    response = await client.post(f"/v2/app/blobs/uploads/?digest={wrong}", data=DATA)
    assert response.status == 400
    assert await error_code(response) == "DIGEST_INVALID"
    assert (await client.head(f"/v2/app/blobs/{wrong}")).status == 404
    assert (await client.head(f"/v2/app/blobs/{sha256(DATA)}")).status == 404

    location = await _start(client)
    await client.patch(location, data=DATA[:1000], headers={"Content-Range": "0-999"})
    response = await client.put(f"{location}?digest={wrong}")
    assert response.status == 400
    assert await error_code(response) == "DIGEST_INVALID"
    assert (await client.get(location)).status == 404  # the failed upload is gone


async def test_malformed_digests(client):
    for digest in ["sha256:abc", "sha256:" + "G" * 64, "nodigest", "sha256:" + "A" * 64]:
        response = await client.post(f"/v2/app/blobs/uploads/?digest={digest}", data=b"x")
        assert response.status == 400, digest
        assert await error_code(response) == "DIGEST_INVALID"
        response = await client.get(f"/v2/app/blobs/{digest}")
        assert response.status == 400, digest


async def test_put_without_digest(client):
    location = await _start(client)
    response = await client.put(location, data=b"abc")
    assert response.status == 400
    assert await error_code(response) == "DIGEST_INVALID"


async def test_garbage_content_range_and_length_mismatch(client):
    location = await _start(client)
    response = await client.patch(location, data=b"abc", headers={"Content-Range": "zero-two"})
    assert response.status == 400
    assert await error_code(response) == "BLOB_UPLOAD_INVALID"
    response = await client.patch(location, data=b"abc", headers={"Content-Range": "0-9"})
    assert response.status == 400
    assert await error_code(response) == "SIZE_INVALID"
    response = await client.get(location)
    assert response.headers["Range"] == "0-0"  # nothing was kept


async def test_missing_content_length_on_monolithic_upload(client):
    # aiohttp's client always frames bodies, so speak raw HTTP for this one
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    digest = sha256(b"abc")
    authorization = client.session.headers["Authorization"]
    writer.write(
        f"POST /v2/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {authorization}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = (await reader.readline()).decode()
    writer.close()
    assert " 411 " in status_line


async def test_upload_unknown_and_wrong_repository(client):
    response = await client.get("/v2/app/blobs/uploads/not-a-uuid")
    assert response.status == 404
    assert await error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    location = await _start(client, "one")
    other = location.replace("/v2/one/", "/v2/two/")
    await _start(client, "two")
    response = await client.patch(other, data=b"x")
    assert response.status == 404
    assert await error_code(response) == "BLOB_UPLOAD_UNKNOWN"


async def test_cancel_upload(client):
    location = await _start(client)
    await client.patch(location, data=b"abc")
    response = await client.delete(location)
    assert response.status == 204
    assert (await client.get(location)).status == 404
    assert (await client.delete(location)).status == 404


async def test_mount_from_another_repository_and_without_from(client):
    digest = await push_blob(client, "source", DATA)
    response = await client.post(f"/v2/target/blobs/uploads/?mount={digest}&from=source")
    assert response.status == 201
    assert response.headers["Location"] == f"/v2/target/blobs/{digest}"
    assert (await client.head(f"/v2/target/blobs/{digest}")).status == 200

    response = await client.post(f"/v2/third/blobs/uploads/?mount={digest}")
    assert response.status == 201  # automatic mount: the caller may read it in "source"

    missing = sha256(b"not here")
    response = await client.post(f"/v2/target/blobs/uploads/?mount={missing}&from=source")
    assert response.status == 202  # falls back to a normal upload session
    assert "/blobs/uploads/" in response.headers["Location"]


async def test_blob_in_one_repository_is_unknown_in_another(client):
    digest = await push_blob(client, "one", DATA)
    response = await client.get(f"/v2/two/blobs/{digest}")
    assert response.status == 404
    assert await error_code(response) == "BLOB_UNKNOWN"


async def test_delete_blob(client):
    digest = await push_blob(client, "app", DATA)
    assert (await client.delete(f"/v2/app/blobs/{digest}")).status == 202
    assert (await client.head(f"/v2/app/blobs/{digest}")).status == 404
    response = await client.delete(f"/v2/app/blobs/{digest}")
    assert response.status == 404
    assert await error_code(response) == "BLOB_UNKNOWN"


async def test_empty_blob(client):
    digest = await push_blob(client, "app", b"")
    response = await client.get(f"/v2/app/blobs/{digest}")
    assert response.status == 200
    assert await response.read() == b""


async def test_a_put_retried_after_a_crash_between_placing_and_recording(client, monkeypatch):
    """The request that placed the bytes died before writing the blob's row (a replica killed in
    between): the upload's bytes are gone, its row stays. The same PUT again is told the upload is
    unknown (its digest was never checked against this request's), and the blob started again
    completes with the bytes already placed."""
    from kikoto.app import SERVICES

    data = os.urandom(70_000)
    start = await client.post("/v2/app/blobs/uploads/")
    patched = await client.patch(start.headers["Location"], data=data[:50_000], headers={"Content-Range": "0-49999"})
    assert patched.status == 202
    index = client.app[SERVICES].core.stores.blobs
    record = index.add_blob

    async def dies(*args, **kwargs):
        monkeypatch.setattr(index, "add_blob", record)  # once: the process is gone
        raise ConnectionResetError("killed")

    monkeypatch.setattr(index, "add_blob", dies)
    put = f"{patched.headers['Location']}?digest={sha256(data)}"
    assert (await client.put(put, data=data[50_000:])).status >= 500  # the client saw it fail
    again = await client.put(put, data=data[50_000:])
    assert again.status == 404 and await error_code(again) == "BLOB_UPLOAD_UNKNOWN", await again.text()
    assert (await client.get(f"/v2/app/blobs/{sha256(data)}")).status == 404  # nothing half-recorded
    await push_blob(client, "app", data)  # the client starts the blob again
    pulled = await client.get(f"/v2/app/blobs/{sha256(data)}")
    assert pulled.status == 200 and await pulled.read() == data
