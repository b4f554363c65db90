"""Version check, catalog, name validation, unknown endpoints."""

from ..conftest import ADMIN_KEY, ADMIN_SECRET, basic_auth_for
from ..helpers import error_code, push_image


async def test_version_check(client):
    response = await client.get("/v2/")
    assert response.status == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_catalog_lists_pushed_repositories_in_order_with_paging(client):
    for name in ["zeta", "alpha/app", "Mid".lower(), "alpha"]:
        await push_image(client, name, "v1")
    response = await client.get("/v2/_catalog")
    assert (await response.json())["repositories"] == ["alpha", "alpha/app", "mid", "zeta"]

    response = await client.get("/v2/_catalog?n=2")
    assert (await response.json())["repositories"] == ["alpha", "alpha/app"]
    assert response.headers["Link"] == '</v2/_catalog?n=2&last=alpha%2Fapp>; rel="next"'
    response = await client.get("/v2/_catalog?n=2&last=alpha%2Fapp")
    assert (await response.json())["repositories"] == ["mid", "zeta"]
    assert "Link" not in response.headers
    response = await client.get("/v2/_catalog?n=0")
    assert (await response.json())["repositories"] == []


async def test_catalog_rejects_a_bad_page_size(client):
    response = await client.get("/v2/_catalog?n=abc")
    assert response.status == 400
    assert await error_code(response) == "PAGINATION_NUMBER_INVALID"


async def test_invalid_names_are_refused_everywhere(client):
    for path in [
        "/v2/UPPER/tags/list",
        "/v2/a--/manifests/latest",
        "/v2/a//b/blobs/uploads/",
        "/v2/-lead/blobs/sha256:" + "0" * 64,
        "/v2/" + "a" * 257 + "/tags/list",
    ]:
        method = "POST" if path.endswith("uploads/") else "GET"
        response = await client.request(method, path)
        assert response.status == 400, path
        assert await error_code(response) == "NAME_INVALID", path


async def test_namespaced_names_work(client):
    await push_image(client, "team/sub.group/node-app", "1.0.0")
    response = await client.get("/v2/team/sub.group/node-app/tags/list")
    assert (await response.json()) == {"name": "team/sub.group/node-app", "tags": ["1.0.0"]}


async def test_unknown_endpoint_and_method_get_oci_errors(client):
    response = await client.get("/v2/foo/unknown/thing")
    assert response.status == 404
    assert await error_code(response)
    response = await client.post("/v2/foo/tags/list")
    assert response.status == 405
    assert await error_code(response) == "UNSUPPORTED"


async def test_public_host_makes_locations_absolute(aiohttp_client, tmp_path):
    import asyncio

    from kikoto.app import build_app, prepare
    from kikoto.config import Settings

    settings = Settings(
        data_dir=tmp_path / "d",
        public_host="registry.example:5000",
        workers=1,
        create_on_push=True,
        admin_access_key_id=ADMIN_KEY,
        admin_secret_access_key=ADMIN_SECRET,
    )
    await asyncio.to_thread(prepare, settings)
    app = build_app(settings, background_jobs=False)
    client = await aiohttp_client(app, headers={"Authorization": await basic_auth_for(app, ADMIN_KEY)})
    response = await client.post("/v2/app/blobs/uploads/")
    assert response.headers["Location"].startswith("http://registry.example:5000/v2/app/blobs/uploads/")
