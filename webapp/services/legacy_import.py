"""Import of legacy authorizations from a CSV file (DESIGN.md §3, "Conversion").

Each good row becomes a converted Sessions authorization covering all of the
organization's service types; bad rows are reported with their spreadsheet row
number and a reason. Every row is written inside its own SAVEPOINT, and the whole
import is committed once at the end, so a failure leaves nothing half-written.
An authorization already present (same client insurance and number) is left as
it is, so importing the same file again adds nothing.
"""

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError, IntegrityError

from webapp.domain.conversion import (
    CSV_HEADERS,
    ConvertedTerms,
    LegacyRow,
    LegacyRowError,
    convert_legacy,
    normalise_row,
    parse_legacy_row,
)
from webapp.extensions import db
from webapp.models import (
    Authorization,
    Client,
    ClientInsurance,
    LegacyImport,
    Organization,
    Payer,
    ServiceType,
    User,
)
from webapp.models.base import utcnow
from webapp.services import audit, queue
from webapp.services.allocation import reallocate_client
from webapp.services.errors import Refused

OPTIONAL_HEADERS = ("end_date",)
REQUIRED_HEADERS = tuple(h for h in CSV_HEADERS if h not in OPTIONAL_HEADERS)
EXAMPLE_CSV = (
    "client,payer,authorization_number,end_date,sessions_allowed\n"
    '"Rivera, Ana",Aetna,AET-44821,2026-06-30,24\n'
    "Marcus Lee,Blue Cross,BC-0093,,12\n"
    "1042,Aetna,AET-50117,12/31/2026,30\n"
)
ROW_KEY = "__row__"  # parse_csv's note of the spreadsheet row number of each row
PROGRESS_EVERY = 20
NUMBER_MAX_LENGTH = 64  # Authorization.number
SESSIONS_MAX = 2_147_483_647  # a 32-bit integer column on PostgreSQL
JOB_TIMEOUT_SECONDS = 30 * 60


class ImportRefused(Refused, ValueError):
    """The organization is not ready for an import; the message says what to do."""


@dataclass
class ImportResult:
    total: int = 0
    imported: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)  # [{"row": 3, "reason": "..."}]


def expected_headers_text() -> str:
    return ", ".join(f"{h} (optional)" if h in OPTIONAL_HEADERS else h for h in CSV_HEADERS)


def readiness_refusal(org: Organization) -> str | None:
    """Why this organization cannot import legacy authorizations yet, or None."""
    if org.enhanced_authorizations_release_date is None:
        return (
            "Set the organization's enhanced-authorizations release date "
            "(Admin › Organization settings) before importing: converted "
            "authorizations start on that date."
        )
    has_services = db.session.scalar(
        select(func.count(ServiceType.id)).where(ServiceType.organization_id == org.id)
    )
    if not has_services:
        return (
            "Add the organization's service types (Admin › Service types) before "
            "importing: converted authorizations cover all of them."
        )
    return None


def ensure_ready(org: Organization) -> None:
    """Check the organization can take legacy authorizations.

    Raises:
        ImportRefused: it is not ready (`readiness_refusal` says what to do).
    """
    problem = readiness_refusal(org)
    if problem:
        raise ImportRefused(problem)


# --- reading the file ---------------------------------------------------------------


def _header_names(cells: list[str]) -> list[str]:
    """The domain's header rule (case, spacing, BOM), one name per cell."""
    return [next(iter(normalise_row({cell: ""})), "") for cell in cells]


def _numbered(records):
    """(row number from 1, cells); a cell past the csv module's limit (131,072
    characters) becomes a ValueError naming the row, like every other file problem."""
    number = 0
    while True:
        number += 1
        try:
            cells = next(records)
        except StopIteration:
            return
        except csv.Error as error:
            raise ValueError(
                f"Row {number} cannot be read ({error}). A cell holds at most "
                f"{csv.field_size_limit():,} characters; check the file's quotes."
            ) from None
        yield number, cells


def parse_csv(text: str) -> list[dict]:
    """The rows of a CSV text as dicts keyed by its headers.

    Each dict also holds, under ROW_KEY, the row number a person sees in a
    spreadsheet (header = row 1; blank rows count but yield nothing).

    Raises:
        ValueError: a required header is missing (the message names the expected ones),
            or the text is not a CSV file.
    """
    if "\x00" in text:
        raise ValueError(
            "The file holds NUL characters, so it is not CSV text. Save it as CSV UTF-8."
        )
    records = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    headers: list[str] | None = None
    rows = []
    for number, cells in _numbered(records):
        if not any(cell.strip() for cell in cells):
            continue
        if headers is None:
            headers = cells
            missing = [h for h in REQUIRED_HEADERS if h not in _header_names(cells)]
            if missing:
                raise ValueError(
                    f"The file's first row is missing the column(s) {', '.join(missing)}. "
                    f"Expected headers: {expected_headers_text()}."
                )
            continue
        row = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(headers)}
        row[ROW_KEY] = str(number)
        rows.append(row)
    if headers is None:
        raise ValueError(f"The file is empty. Expected headers: {expected_headers_text()}.")
    return rows


# --- matching rows to clients, payers and insurances ---------------------------------


def _key(text: str) -> str:
    """Case- and spacing-insensitive form of a name; 'Last , First' → 'last, first'."""
    if "," in text:
        last, first = text.split(",", 1)
        return f"{_key(last)}, {_key(first)}"
    return " ".join(text.casefold().split())


class _Directory:
    """The organization's clients, payers and insurances, loaded once per import."""

    def __init__(self, org: Organization):
        self.client_ids: set[int] = set()
        self.clients_by_name: dict[str, set[int]] = defaultdict(set)
        for client_id, first, last in db.session.execute(
            select(Client.id, Client.first_name, Client.last_name).where(
                Client.organization_id == org.id
            )
        ):
            self.client_ids.add(client_id)
            self.clients_by_name[_key(f"{first} {last}")].add(client_id)
            self.clients_by_name[_key(f"{last}, {first}")].add(client_id)

        self.payers: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for payer_id, name in db.session.execute(
            select(Payer.id, Payer.name).where(Payer.organization_id == org.id)
        ):
            self.payers[_key(name)].append((payer_id, name))

        # (client, payer) → the insurance to use: active first, then the newest.
        best: dict[tuple[int, int], tuple] = {}
        for ins_id, client_id, payer_id, active, created_at in db.session.execute(
            select(
                ClientInsurance.id,
                ClientInsurance.client_id,
                ClientInsurance.payer_id,
                ClientInsurance.active,
                ClientInsurance.created_at,
            ).where(ClientInsurance.organization_id == org.id)
        ):
            rank = (bool(active), created_at, ins_id)
            if (client_id, payer_id) not in best or rank > best[(client_id, payer_id)]:
                best[(client_id, payer_id)] = rank
        self.insurances = {pair: rank[2] for pair, rank in best.items()}

        self.existing: set[tuple[int, str | None]] = set(
            db.session.execute(
                select(Authorization.client_insurance_id, Authorization.number).where(
                    Authorization.organization_id == org.id
                )
            ).tuples()
        )

    def client_id(self, ref: str) -> int:
        if ref.isascii() and ref.isdigit():
            if int(ref) in self.client_ids:
                return int(ref)
            raise LegacyRowError(f"No client has the id {ref} in this organization.")
        matches = self.clients_by_name.get(_key(ref), set())
        if len(matches) == 1:
            return next(iter(matches))
        if matches:
            ids = ", ".join(str(i) for i in sorted(matches))
            raise LegacyRowError(
                f"{len(matches)} clients are named {ref!r} (ids {ids}); use the client's id."
            )
        raise LegacyRowError(
            f"No client matches {ref!r} (use the client's id, 'Last, First' or 'First Last')."
        )

    def payer(self, name: str) -> tuple[int, str]:
        matches = self.payers.get(_key(name), [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise LegacyRowError(f"Several payers are named {name!r}; rename one of them.")
        raise LegacyRowError(f"No payer is named {name!r} in this organization.")

    def insurance_id(self, client_id: int, payer: tuple[int, str]) -> int:
        found = self.insurances.get((client_id, payer[0]))
        if found is None:
            raise LegacyRowError(f"The client has no insurance with {payer[1]}.")
        return found


# --- the import -----------------------------------------------------------------------


def _row_number(raw: Mapping[str, str], index: int) -> int:
    noted = raw.get(ROW_KEY)
    return int(noted) if noted else index + 2  # header = row 1


def _checked_row(
    raw: Mapping[str, str], directory: "_Directory", seen_in_file: dict[tuple[int, str], int]
) -> tuple[LegacyRow, int, tuple[int, str]]:
    """(the parsed row, its client's id, its key (insurance id, number)), or
    LegacyRowError saying what is wrong with it."""
    legacy = parse_legacy_row({k: v for k, v in raw.items() if k != ROW_KEY})
    if len(legacy.number) > NUMBER_MAX_LENGTH:
        raise LegacyRowError(f"Authorization number is longer than {NUMBER_MAX_LENGTH} characters.")
    if legacy.sessions_allowed > SESSIONS_MAX:
        raise LegacyRowError(f"Sessions allowed {legacy.sessions_allowed} is too large.")
    client_id = directory.client_id(legacy.client_ref)
    insurance_id = directory.insurance_id(client_id, directory.payer(legacy.payer_name))
    key = (insurance_id, legacy.number)
    if key in seen_in_file:
        raise LegacyRowError(
            f"Repeats authorization {legacy.number} of row {seen_in_file[key]} "
            "for the same client and payer."
        )
    return legacy, client_id, key


def _add_authorization(
    org: Organization, insurance_id: int, terms: ConvertedTerms, service_types: list[ServiceType]
) -> None:
    """The converted authorization, in a savepoint: a row the database refuses rolls
    back alone (IntegrityError, DataError) and the import goes on."""
    with db.session.begin_nested():
        db.session.add(
            Authorization(
                organization_id=org.id,
                client_insurance_id=insurance_id,
                number=terms.number,
                kind=terms.kind,
                start_date=terms.start,
                end_date=terms.end,
                allowed=terms.allowed,
                converted=terms.converted,
                service_types=list(service_types),
            )
        )
        db.session.flush()


def _write_outcome(event, result: "ImportResult", legacy_import: LegacyImport | None) -> None:
    """The counts on the audit event and, for an upload, on its row (the caller commits)."""
    event.after = {
        "total": result.total,
        "imported": result.imported,
        "unchanged": result.unchanged,
        "errors": len(result.errors),
    }
    if legacy_import is not None:
        legacy_import.status = "done"
        legacy_import.total_rows = result.total
        legacy_import.imported_count = result.imported
        legacy_import.unchanged_count = result.unchanged
        legacy_import.errors = result.errors
        legacy_import.finished_at = utcnow()


def _opening_event(org: Organization, actor_id: int | None, legacy_import: LegacyImport | None):
    """The import's audit event, written first on purpose: the first write opens the
    real transaction. On SQLite (pysqlite) a SAVEPOINT issued before any write would
    itself be the outermost transaction, and releasing it would commit the row on the
    spot."""
    event = audit.record(
        organization_id=org.id,
        user_id=actor_id,
        action="authorization.legacy_import",
        entity_type="legacy_imports",
        entity_id=legacy_import.id if legacy_import else None,
    )
    db.session.flush()
    return event


def import_rows(
    org: Organization,
    rows: Iterable[Mapping[str, str]],
    *,
    actor_id: int | None,
    progress: Callable[[int, int], None] | None = None,
    legacy_import: LegacyImport | None = None,
) -> ImportResult:
    """Convert and save the good rows, report the bad ones, commit once.

    When the rows come from an uploaded `legacy_import`, its outcome is written on
    it in the same commit. Raises ImportRefused (nothing written) when the
    organization is not ready.
    """
    ensure_ready(org)
    rows = list(rows)
    result = ImportResult(total=len(rows))
    release: date = org.enhanced_authorizations_release_date
    service_types = list(
        db.session.scalars(select(ServiceType).where(ServiceType.organization_id == org.id))
    )
    directory = _Directory(org)

    event = _opening_event(org, actor_id, legacy_import)

    seen_in_file: dict[tuple[int, str], int] = {}
    affected_clients: set[int] = set()
    if progress:
        progress(0, result.total)
    for index, raw in enumerate(rows):
        row_number = _row_number(raw, index)
        try:
            legacy, client_id, key = _checked_row(raw, directory, seen_in_file)
            seen_in_file[key] = row_number
            if key in directory.existing:
                result.unchanged += 1
            else:
                terms = convert_legacy(legacy, release_date=release)
                _add_authorization(org, key[0], terms, service_types)
                directory.existing.add(key)
                affected_clients.add(client_id)
                result.imported += 1
        except LegacyRowError as error:
            result.errors.append({"row": row_number, "reason": str(error)})
        except (IntegrityError, DataError) as error:  # the savepoint was rolled back
            detail = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            result.errors.append({"row": row_number, "reason": f"Could not be saved: {detail}"})
        done = index + 1
        if progress and done % PROGRESS_EVERY == 0 and done < result.total:
            progress(done, result.total)

    for client_id in sorted(affected_clients):
        reallocate_client(org, client_id)
    _write_outcome(event, result, legacy_import)
    db.session.commit()
    if progress:
        progress(result.total, result.total)
    return result


# --- the upload page's entry point ----------------------------------------------------


def job_id(import_id: int) -> str:
    return f"legacy-import-{import_id}"


def start_upload(org: Organization, actor: User, filename: str, content: str) -> LegacyImport:
    """Check the file, keep it as a queued LegacyImport, enqueue its job.

    Raises:
        ValueError: the file cannot be imported (the message is for the person);
            ImportRefused, a ValueError too, when the organization is not ready.
            Nothing is created.
    """
    ensure_ready(org)
    rows = parse_csv(content)
    if not rows:
        raise ValueError("The file has its header row but no rows to import.")
    upload = LegacyImport(
        organization_id=org.id,
        user_id=actor.id,
        filename=(filename or "upload.csv")[:255],
        content=content,
        status="queued",
        total_rows=len(rows),
    )
    db.session.add(upload)
    db.session.commit()

    queued = queue.enqueue(
        "jobs.legacy_import.run", upload.id, job_id=job_id(upload.id), timeout=JOB_TIMEOUT_SECONDS
    )
    if not queued:
        upload.status = "failed"
        upload.errors = [
            {
                "row": None,
                "reason": "The job queue could not be reached. Nothing was imported; "
                "check Admin › System and upload the file again.",
            }
        ]
        upload.finished_at = utcnow()
        db.session.commit()
    return upload


def run_upload(import_id: int, progress: Callable[[int, int], None] | None = None) -> str:
    """The job's work: claim the queued upload, import it, write the outcome on its row.

    Claimed by compare-and-set, so a second run (or a second worker) does nothing.
    An unexpected error rolls the import back, marks the row failed with the
    error's text, and is raised again for RQ to record.
    """
    claimed = db.session.execute(
        update(LegacyImport)
        .where(LegacyImport.id == import_id, LegacyImport.status == "queued")
        .values(status="running")
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return "already taken"
    upload = db.session.get(LegacyImport, import_id)
    try:
        org = db.session.get(Organization, upload.organization_id)
        result = import_rows(
            org,
            parse_csv(upload.content),
            actor_id=upload.user_id,
            progress=progress,
            legacy_import=upload,
        )
    except Exception as error:
        db.session.rollback()
        reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        db.session.execute(
            update(LegacyImport)
            .where(LegacyImport.id == import_id)
            .values(status="failed", errors=[{"row": None, "reason": reason}], finished_at=utcnow())
        )
        db.session.commit()
        raise
    return f"imported {result.imported}, unchanged {result.unchanged}, bad {len(result.errors)}"
