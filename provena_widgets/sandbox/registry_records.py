"""What the stand-in's registry holds: dataset records, and how the data store API answers for them.

:func:`item_dataset` gives a dataset as Provena's complete ``ItemDataset`` (``ProvenaInterfaces.
RegistryModels`` in provena-interfaces-v2) with every field present, as FastAPI serialises it:
metadata registered through the Data Store, an owner, epoch-second timestamps, its history (newest
first) and release history. :func:`fetch_failure` gives the data store API's 400 detail for a handle
that is not a complete dataset, in the words of Provena's sources.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

ORGANISATION = "10378.1/1000001"  # registered organisation: publisher and record creator
CUSTODIAN = "10378.1/1000002"  # registered person: custodian, and requester of releases
REVIEWER = "10378.1/1000003"  # registered person: the release reviewer
AGENTS = frozenset({ORGANISATION, CUSTODIAN, REVIEWER})
"""Registered items every dataset record refers to; they are not datasets."""

CREATED = 1717200000  # 2024-06-01T00:00:00Z
DAY = 86400
_FETCH_FAILED = "The registry API responded with status success False during dataset fetching. Details: {}."


@dataclass
class Dataset:
    """A dataset record: where its files are, who holds which dataset role, lock and release state."""

    name: str
    bucket: str
    path: str
    roles: dict[str, list[str]] = field(default_factory=dict)
    locked: bool = False
    release_status: str = "NOT_RELEASED"

    @property
    def owner(self) -> str:
        """The user who registered it: Provena makes the owner an admin of the dataset."""
        return next((user for user, roles in self.roles.items() if "admin" in roles), "data-steward")


def fetch_failure(handle: str, registered: bool) -> str:
    """The 400 detail for ``handle``: unknown, or ``registered`` as an item of another kind."""
    if not registered:
        missing = KeyError(f"Failed to find item. Is the ID ('{handle}') correct and in the database?")
        return _FETCH_FAILED.format(
            f"Could not find the given key ({handle}) in the registry. Details {missing}."
        )
    # Abridged: pydantic also lists the history entries' items, the input values and help links.
    parse_error = "3 validation errors for ItemDataset" + "".join(
        f"\n{name}\n  Field required [type=missing, input_type=dict]"
        for name in ("collection_format", "s3", "release_status")
    )
    return _FETCH_FAILED.format(
        "The record was found but could not parsed as an appropriate type: Error The record was marked "
        f"as a COMPLETE_ITEM but could not be parsed as the correct model. Error: {parse_error}."
    )


def item_dataset(handle: str, dataset: Dataset) -> dict[str, Any]:
    """``dataset`` as the registry's complete ``ItemDataset``."""
    current = _domain_info(handle, dataset, updated=True, released=True)
    releases = [entry["timestamp"] for entry in current["release_history"]]
    edits = [
        (1, CREATED + 2 * DAY, "Added usage limitations", True),
        (0, CREATED, "Initial record creation", False),
    ]
    history = [  # newest first; release actions change the record without adding an entry
        {
            "id": number,
            "timestamp": when,
            "reason": reason,
            "username": dataset.owner,
            "item": _domain_info(handle, dataset, updated=updated, released=False),
        }
        for number, when, reason, updated in edits
    ]
    return {
        "id": handle,
        "owner_username": dataset.owner,
        "created_timestamp": CREATED,
        "updated_timestamp": max([CREATED + 2 * DAY, *releases]),
        "item_category": "ENTITY",
        "item_subtype": "DATASET",
        "record_type": "COMPLETE_ITEM",
        "workflow_links": {
            "create_activity_workflow_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"create:{handle}")),
            "version_activity_workflow_id": None,
        },
        "versioning_info": {"previous_version": None, "version": 1, "reason": None, "next_version": None},
        "history": history,
        **current,
    }


def _domain_info(handle: str, dataset: Dataset, *, updated: bool, released: bool) -> dict[str, Any]:
    """The dataset's domain info: as registered, after its metadata update, after release actions."""
    release = _release_history(dataset.release_status, dataset.owner) if released else []
    metadata = {"program": "Reef restoration (stand-in)", "handle": handle}
    return {
        "display_name": dataset.name,
        "user_metadata": metadata,
        "collection_format": _collection_format(dataset.name, metadata, updated),
        "s3": {
            "bucket_name": dataset.bucket,
            "path": dataset.path,
            "s3_uri": f"s3://{dataset.bucket}/{dataset.path}",
        },
        "release_history": release,
        "release_status": dataset.release_status if released else "NOT_RELEASED",
        "release_approver": release[-1]["approver"] if release else None,
        "release_timestamp": release[-1]["timestamp"] if release else None,
        "access_info_uri": None,
    }


def _collection_format(name: str, metadata: dict[str, str], updated: bool) -> dict[str, Any]:
    """The metadata the Data Store's registration form collects."""
    unchecked = {"relevant": False, "obtained": False}
    return {
        "associations": {
            "organisation_id": ORGANISATION,
            "data_custodian_id": CUSTODIAN,
            "point_of_contact": "data-steward@example.org",
        },
        "approvals": {
            key: dict(unchecked)
            for key in ("ethics_registration", "ethics_access", "indigenous_knowledge", "export_controls")
        },
        "dataset_info": {
            "name": name,
            "description": f"{name}: files kept in the Provena Data Store (sample record of the stand-in).",
            "access_info": {"reposited": True, "uri": None, "description": None},
            "publisher_id": ORGANISATION,
            "created_date": {"relevant": True, "value": "2024-05-20"},
            "published_date": {"relevant": False, "value": None},
            "license": "https://creativecommons.org/licenses/by/4.0/",
            "purpose": "Sample data for trying out the data store tools.",
            "rights_holder": "Stand-in Organisation",
            "usage_limitations": "For testing only." if updated else None,
            "preferred_citation": None,
            "spatial_info": {
                "coverage": None,
                "resolution": "0.01",
                "extent": "SRID=4326;POLYGON((142 -24.5,153 -24.5,153 -10.5,142 -10.5,142 -24.5))",
            },
            "temporal_info": {
                "duration": {"begin_date": "2023-01-01", "end_date": "2023-12-31"},
                "resolution": "PT10M",
            },
            "formats": ["csv", "nc"],
            "keywords": ["reef", "temperature"],
            "user_metadata": dict(metadata),
            "version": None,
        },
    }


def _release_history(status: str, owner: str) -> list[dict[str, Any]]:
    """The review request (PENDING) and its approval (RELEASED), as the release routes append them."""
    if status == "NOT_RELEASED":
        return []
    requested = CREATED + 3 * DAY
    history: list[dict[str, Any]] = [
        {
            "action": "REQUEST",
            "timestamp": requested,
            "approver": REVIEWER,
            "requester": CUSTODIAN,
            "notes": f"Please review for release ({owner}).",
        }
    ]
    if status == "RELEASED":
        history.append(
            {
                "action": "APPROVE",
                "timestamp": requested + DAY,
                "approver": REVIEWER,
                "requester": None,
                "notes": "Approved.",
            }
        )
    return history
