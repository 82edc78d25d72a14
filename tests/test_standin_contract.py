"""Every kind of answer of the stand-in's data store API, checked against Provena's official models.

The models are ``ProvenaInterfaces`` from the provena-interfaces-v2 wheel (pydantic v2), with which
the official client ``provenaclient`` parses answers. Each answer must also equal the model's own JSON
form, as FastAPI sends it: every field present, none unknown, values serialised the same way.
"""

from __future__ import annotations

import time
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import requests
from conftest import LOCKED, READ_ONLY, RELEASED, SAMPLE
from pydantic import BaseModel, ConfigDict

from provena_widgets.provena import ProvenaClient
from provena_widgets.sandbox.provena_standin import Dataset, ProvenaStandIn
from provena_widgets.sandbox.registry_records import ORGANISATION

with warnings.catch_warnings():  # the wheel still declares some pydantic v1-style validators
    warnings.simplefilter("ignore", DeprecationWarning)
    from ProvenaInterfaces.APIResponses import HTTPValidationError
    from ProvenaInterfaces.DataStoreAPI import CredentialResponse, RegistryFetchResponse
    from ProvenaInterfaces.RegistryModels import ItemDataset

Model = TypeVar("Model", bound=BaseModel)

FETCH_FAILED = "The registry API responded with status success False during dataset fetching. Details: "
NO_ROLE = "You are not authorised to access this resource as you don't have the correct role."
NO_DATA_ROLE = "You do not have sufficient permissions to {} this dataset!"
IS_LOCKED = (
    "This dataset is locked - you cannot modify the files of a locked dataset. Unlock the dataset first."
)
IS_RELEASED = (
    "Dataset {} is pending review or is released. Cannot modify dataset files while a review is ongoing."
)
NOT_A_DATASET = (
    "The record was found but could not parsed as an appropriate type: Error The record was marked"
)


class ErrorAnswer(BaseModel):
    """FastAPI's answer to an ``HTTPException``."""

    model_config = ConfigDict(extra="forbid")
    detail: str


class GatewayAnswer(BaseModel):
    """API Gateway's answer when the API fails or does not answer in time."""

    model_config = ConfigDict(extra="forbid")
    message: str


class Api:
    """Plain HTTP calls to the stand-in's data store API as one user."""

    def __init__(self, provena: ProvenaStandIn, user: str | None) -> None:
        self.base = provena.config.data_api_url
        self.headers: dict[str, str] = {}
        if user is not None:
            client = ProvenaClient(provena.config)
            client.login_offline(provena.issue_offline_token(user))
            self.headers["Authorization"] = f"Bearer {client.access_token()}"

    def fetch(self, handle: str | None) -> requests.Response:
        params = {} if handle is None else {"handle_id": handle}
        return requests.get(
            f"{self.base}/registry/items/fetch-dataset", params=params, headers=self.headers, timeout=10
        )

    def credentials(self, kind: str, handle: str) -> requests.Response:
        return self.post(kind, json={"dataset_id": handle, "console_session_required": False})

    def post(self, kind: str, **body: Any) -> requests.Response:
        url = f"{self.base}/registry/credentials/generate-{kind}-access-credentials"
        return requests.post(url, headers=self.headers, timeout=10, **body)


def exact(model: type[Model], answer: requests.Response, status: int = 200) -> Model:
    """``answer`` parsed by ``model``; it must be exactly the model's JSON form."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json") == body
    return parsed


def test_fetch_dataset_answers_complete_item_datasets_in_every_release_state(provena: ProvenaStandIn) -> None:
    pending = "10378.1/2000004"
    sample = provena.datasets[SAMPLE]
    under_review = Dataset("Under review", sample.bucket, "datasets/10378-1-2000004/", {"alice": ["admin"]})
    under_review.release_status = "PENDING"
    provena.add_dataset(pending, under_review)
    alice = Api(provena, "alice")
    for handle in (SAMPLE, LOCKED, RELEASED, READ_ONLY, pending):
        answer = exact(RegistryFetchResponse, alice.fetch(handle))
        record, item = provena.datasets[handle], answer.item
        assert isinstance(item, ItemDataset)
        assert answer.status.details == f"Successfully fetched data for handle '{handle}'"
        assert answer.status.success
        assert (answer.roles, answer.locked) == (record.roles["alice"], record.locked)
        assert (item.id, item.display_name, item.item_subtype.value, item.record_type.value) == (
            handle, record.name, "DATASET", "COMPLETE_ITEM"
        )  # fmt: skip
        assert (item.s3.bucket_name, item.s3.path, item.s3.s3_uri) == (
            record.bucket, record.path, f"s3://{record.bucket}/{record.path}"
        )  # fmt: skip
        assert item.release_status.value == record.release_status
        assert [entry.action.value for entry in item.release_history] == {
            "NOT_RELEASED": [], "PENDING": ["REQUEST"], "RELEASED": ["REQUEST", "APPROVE"]
        }[record.release_status]  # fmt: skip
        assert item.owner_username == ("alice" if "admin" in record.roles["alice"] else "data-steward")
        assert item.created_timestamp < item.updated_timestamp < time.time()
        assert item.history[-1].reason == "Initial record creation"
        assert item.collection_format.dataset_info.access_info.reposited


def test_credential_answers_are_credential_responses_expiring_in_utc(provena: ProvenaStandIn) -> None:
    alice = Api(provena, "alice")
    for kind in ("read", "write"):
        raw = alice.credentials(kind, SAMPLE)
        answer = exact(CredentialResponse, raw)
        assert answer.status.success
        assert answer.status.details == "STS credentials generated successfully for specified path."
        assert answer.credentials.aws_session_token and answer.console_session_url is None
        assert raw.json()["credentials"]["expiry"].endswith("Z")
        assert answer.credentials.expiry.utcoffset() == timedelta(0)
        lifetime = answer.credentials.expiry - datetime.now(timezone.utc)
        assert timedelta(hours=8) - timedelta(minutes=1) < lifetime <= timedelta(hours=8)


def test_every_error_answer_is_fastapis_with_provenas_text(provena: ProvenaStandIn) -> None:
    provena.users["carol"] = []  # no realm role at all
    alice, bob, carol, nobody = (Api(provena, user) for user in ("alice", "bob", "carol", None))
    forged = Api(provena, None)
    forged.headers["Authorization"] = "Bearer a.b.c"
    unknown = (
        FETCH_FAILED + "Could not find the given key (10378.1/404) in the registry. "
        "Details \"Failed to find item. Is the ID ('10378.1/404') correct and in the database?\".."
    )
    cases = [
        (nobody.fetch(SAMPLE), 401, "Not authenticated"),
        (forged.credentials("read", SAMPLE), 401, "Could not validate credentials"),
        (carol.fetch(SAMPLE), 401, NO_ROLE),
        (carol.credentials("read", SAMPLE), 401, NO_ROLE),
        (bob.credentials("write", SAMPLE), 401, NO_ROLE),
        (alice.fetch("10378.1/404"), 400, unknown),
        (alice.credentials("read", "10378.1/404"), 400, unknown),
        (alice.fetch(""), 400, "Empty string received for query handle_id"),
        (bob.credentials("read", READ_ONLY), 401, NO_DATA_ROLE.format("read from")),
        (alice.credentials("write", READ_ONLY), 401, NO_DATA_ROLE.format("write to")),
        (alice.credentials("write", LOCKED), 401, IS_LOCKED),
        (alice.credentials("write", RELEASED), 403, IS_RELEASED.format(RELEASED)),
        (requests.get(f"{alice.base}/registry/no-such-route", timeout=10), 404, "Not Found"),
    ]
    for answer, status, detail in cases:
        assert exact(ErrorAnswer, answer, status).detail == detail
    not_a_dataset = exact(ErrorAnswer, alice.fetch(ORGANISATION), 400).detail
    assert not_a_dataset.startswith(FETCH_FAILED + NOT_A_DATASET)
    provena.fail_next(504)
    provena.fail_next(502)
    assert exact(GatewayAnswer, alice.fetch(SAMPLE), 504).message == "Endpoint request timed out"
    assert exact(GatewayAnswer, alice.fetch(SAMPLE), 502).message == "Internal server error"


def test_invalid_requests_get_fastapis_validation_errors(provena: ProvenaStandIn) -> None:
    alice = Api(provena, "alice")
    cases = [
        (alice.fetch(None), [["query", "handle_id"]]),
        (alice.post("read"), [["body"]]),
        (alice.post("write", json=[SAMPLE]), [["body"]]),
        (alice.post("read", json={"console_session_required": False}), [["body", "dataset_id"]]),
        (alice.post("read", json={"dataset_id": 7, "console_session_required": []}),
         [["body", "dataset_id"], ["body", "console_session_required"]]),
    ]  # fmt: skip
    for answer, places in cases:
        assert answer.status_code == 422, answer.text
        parsed = HTTPValidationError.model_validate(answer.json())
        assert [problem.loc for problem in parsed.detail] == places
        assert all(set(raw) == {"type", "loc", "msg", "input"} for raw in answer.json()["detail"])
