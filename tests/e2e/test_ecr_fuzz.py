"""Bad input never gets a 500: random requests for every ECR operation, built from botocore's
own shapes (so most of them are well-formed but wrong), sent with real SigV4 signing."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kikoto.http.ecr.validation import service_model

from .conftest import ADMIN_KEY, ADMIN_SECRET, REGION, Server

pytestmark = pytest.mark.e2e
NAMES = st.sampled_from(["fuzz", "fuzz/app", "missing", "Bad_Name", "", "a" * 300])
TEXT = st.one_of(st.text(max_size=40), NAMES, st.sampled_from(["sha256:" + "a" * 64, "latest", "{}", "ROOT"]))


def value_for(shape, depth: int = 0):
    kind = shape.type_name
    if kind == "structure":
        members = {name: value_for(member, depth + 1) for name, member in shape.members.items()} if depth < 3 else {}
        return st.fixed_dictionaries({}, optional=members)
    if kind == "list":
        return st.lists(value_for(shape.member, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2)
    if kind == "string":
        return st.sampled_from(shape.enum) | TEXT if shape.enum else TEXT
    if kind in ("integer", "long"):
        return st.integers(-5, 2000)
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        return st.binary(max_size=32)
    if kind == "timestamp":
        return st.datetimes()
    return st.none()


OPERATIONS = sorted(service_model().operation_names)


@pytest.fixture(scope="module")
def ecr(tmp_path_factory):
    import boto3

    server = Server(tmp_path_factory.mktemp("fuzz") / "data", workers=1).start()
    client = boto3.client(
        "ecr",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY,
        aws_secret_access_key=ADMIN_SECRET,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    client.create_repository(repositoryName="fuzz")
    yield client
    server.stop()


@st.composite
def requests(draw):
    name = draw(st.sampled_from(OPERATIONS))
    shape = service_model().operation_model(name).input_shape
    params = draw(value_for(shape)) if shape is not None else {}
    return name, params


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests())
def test_no_operation_answers_500(ecr, call):
    name, params = call
    method = getattr(ecr, __import__("botocore").xform_name(name))
    try:
        method(**params)
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status < 500, (name, params, error.response["Error"])
    except (TypeError, ValueError):
        pass  # botocore could not even serialise this input (not the server's concern)
