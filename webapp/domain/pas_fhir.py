"""Loading a PAS decision file: JSON, FHIR R4 validation, and finding its ClaimResponses.

Validation uses the R4B models of `fhir.resources` (FHIR 4.3.0, which keeps the R4
shape of Bundle, ClaimResponse, Patient, Coverage and Organization); its default
models are R5 and would accept R5-only elements such as ClaimResponse.decision.
The library is pure (pydantic models, no I/O), so it may live in the domain.

Accepted shapes (PAS IG 2.0.1 and 2.2.1):
- a PAS response Bundle (`type = collection`, ClaimResponse entries), including the
  $inquire response Bundle;
- an R4 backport subscription notification (`type = history`, a SubscriptionStatus
  Parameters first, then the full PAS response Bundle, PAS spec-61, or a ClaimResponse);
- a bare ClaimResponse.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse

from webapp.domain.pas_terms import (
    CLAIM_RESPONSE,
    NOTIFICATION,
    RESPONSE_BUNDLE,
    DecisionFileError,
)

NOTIFICATION_TYPES_WITH_DECISIONS = {"event-notification", "query-event"}


@dataclass
class Resources:
    """The resources a ClaimResponse's references resolve to: its Bundle's entries
    (by fullUrl and by type/id) and its contained resources (by '#id')."""

    by_url: dict[str, Any] = field(default_factory=dict)
    by_type_id: dict[tuple[str, str], Any] = field(default_factory=dict)
    contained: dict[str, Any] = field(default_factory=dict)

    def add(self, full_url: str | None, resource: Any) -> None:
        if full_url:
            self.by_url.setdefault(full_url, resource)
        if resource is not None and resource.id:
            self.by_type_id.setdefault((resource.get_resource_type(), resource.id), resource)

    def with_contained(self, resource: Any) -> "Resources":
        inner = Resources(dict(self.by_url), dict(self.by_type_id))
        for item in resource.contained or []:
            if item.id:
                inner.contained.setdefault(item.id, item)
        return inner

    def resolve(self, reference: Any, resource_type: str) -> Any:
        """The resource of `resource_type` a Reference points at, or None."""
        text = getattr(reference, "reference", None) if reference is not None else None
        if not text:
            return None
        if text.startswith("#"):
            found = self.contained.get(text[1:])
        elif text in self.by_url:
            found = self.by_url[text]
        else:
            parts = text.split("/_history/")[0].rstrip("/").split("/")
            found = self.by_type_id.get((parts[-2], parts[-1])) if len(parts) >= 2 else None
        if found is not None and found.get_resource_type() == resource_type:
            return found
        return None


@dataclass(frozen=True)
class Located:
    """A ClaimResponse found in the file, where it is, and what it can refer to."""

    claim_response: ClaimResponse
    path: str
    resources: Resources


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def load_json(raw: bytes) -> dict:
    """The file's top-level JSON object. Decimals stay Decimal (never float).

    Raises:
        DecisionFileError: not UTF-8, not JSON, or not a JSON object with a resourceType.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DecisionFileError("This file is not JSON: it is not UTF-8 text.") from None
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise DecisionFileError(
            f"This file is not JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except (ValueError, RecursionError) as error:
        raise DecisionFileError(f"This file is not JSON: {error}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise DecisionFileError(
            "This file is JSON but not a FHIR resource: it has no resourceType. Upload a "
            "PAS response Bundle, a subscription notification Bundle or a ClaimResponse."
        )
    return data


def _error_path(root: str, location: tuple) -> str:
    path = root
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" not in str(part) and "." not in str(part):
            path += f".{part}"
    return path


def validate(data: dict) -> Any:
    """The R4 (R4B model) Bundle or ClaimResponse for the JSON object.

    Raises:
        DecisionFileError: another resource type, or not valid FHIR R4, naming the
            first element at fault.
    """
    kind = data["resourceType"]
    if kind not in ("Bundle", "ClaimResponse"):
        try:
            get_fhir_model_class(kind)
        except (ValueError, KeyError):
            raise DecisionFileError(
                f"This file is not FHIR R4: {kind!r} is not an R4 resource type."
            ) from None
        raise DecisionFileError(
            f"This file has no ClaimResponse: it is a {kind}. Upload a PAS response Bundle, "
            "a subscription notification Bundle or a ClaimResponse.",
            kind,
        )
    model = Bundle if kind == "Bundle" else ClaimResponse
    try:
        return model.model_validate(data)
    except Exception as error:  # the validator's own failures on hostile input, too
        raise _invalid(kind, error) from None


def _invalid(root: str, error: Exception) -> DecisionFileError:
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return DecisionFileError(f"This file is not FHIR R4: {error}.", root)
    first = errors()[0]
    path = _error_path(root, first.get("loc", ()))
    if first.get("type") == "extra_forbidden":
        name = path.rsplit(".", 1)[-1]
        return DecisionFileError(
            f"This file is not FHIR R4: {name!r} is not an element of FHIR R4 here.", path
        )
    if first.get("type") in ("missing", "model_field_validation.missing"):
        name = path.rsplit(".", 1)[-1]
        return DecisionFileError(
            f"This file is not valid FHIR R4: the required element {name!r} is missing.", path
        )
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return DecisionFileError(f"This file is not valid FHIR R4: {message}", path)


def locate(resource: Any) -> tuple[str, list[Located]]:
    """The file's kind and the ClaimResponses in it, each with what it can refer to.

    Raises:
        DecisionFileError: a Bundle of another type, a notification without a decision,
            or no ClaimResponse at all.
    """
    if isinstance(resource, ClaimResponse):
        return CLAIM_RESPONSE, [
            Located(resource, "ClaimResponse", Resources().with_contained(resource))
        ]
    if resource.type == "history":
        return NOTIFICATION, _in_notification(resource)
    if resource.type != "collection":
        raise DecisionFileError(
            f"This Bundle is of type {resource.type!r}; a PAS response Bundle is a "
            "'collection' and a subscription notification a 'history'.",
            "Bundle.type",
        )
    found = _in_collection(resource, "Bundle")
    if not found:
        raise DecisionFileError("This Bundle has no ClaimResponse.", "Bundle.entry")
    return RESPONSE_BUNDLE, found


def _in_collection(bundle: Bundle, path: str) -> list[Located]:
    resources = Resources()
    for entry in bundle.entry or []:
        resources.add(entry.fullUrl, entry.resource)
    return [
        Located(
            entry.resource,
            f"{path}.entry[{index}].resource",
            resources.with_contained(entry.resource),
        )
        for index, entry in enumerate(bundle.entry or [])
        if isinstance(entry.resource, ClaimResponse)
    ]


def _in_notification(bundle: Bundle) -> list[Located]:
    entries = bundle.entry or []
    status = entries[0].resource if entries else None
    if status is None or status.get_resource_type() != "Parameters":
        raise DecisionFileError(
            "This history Bundle is not a subscription notification: its first entry is "
            "not a SubscriptionStatus Parameters.",
            "Bundle.entry[0]",
        )
    notification_type = next(
        (p.valueCode for p in status.parameter or [] if p.name == "type"), None
    )
    if notification_type not in NOTIFICATION_TYPES_WITH_DECISIONS:
        raise DecisionFileError(
            f"This subscription notification is a {notification_type or 'untyped'!s} "
            "notification; only event notifications carry decisions.",
            "Bundle.entry[0].resource.parameter",
        )
    outer = Resources()
    for entry in entries[1:]:
        outer.add(entry.fullUrl, entry.resource)
    found: list[Located] = []
    for index, entry in enumerate(entries[1:], start=1):
        path = f"Bundle.entry[{index}].resource"
        if isinstance(entry.resource, ClaimResponse):
            found.append(Located(entry.resource, path, outer.with_contained(entry.resource)))
        elif isinstance(entry.resource, Bundle) and entry.resource.type == "collection":
            found += _in_collection(entry.resource, path)
    if not found:
        if not any(entry.resource for entry in entries[1:]):
            raise DecisionFileError(
                "This notification carries references only (id-only content); PAS needs "
                "full-resource notifications, so ask the payer for the response itself.",
                "Bundle.entry",
            )
        raise DecisionFileError("This notification has no ClaimResponse.", "Bundle.entry")
    return found
