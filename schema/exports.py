"""Data exports in the API: `requestDataExport`, `exportOrganization` and the `DataExport` type
listed by `me.dataExports`. The work runs as a job (`jobs/`); see docs/jobs.md."""

from __future__ import annotations

import datetime
import enum
from typing import cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from engine.fields import Connection, Info, Rows, decode_id
from engine.permissions import (
    HasPermission,
    IsAuthenticated,
    org_from_argument,
    requires,
)
from models import accounts as account_models
from models import jobs as models
from resolvers import exports as resolvers
from schema.accounts import VIEWER_ONLY, is_viewer


@strawberry.enum(description="Where a piece of background work stands.")
class WorkStatus(enum.Enum):
    PENDING = strawberry.enum_value("pending", description="Recorded; a job will carry it out.")
    RUNNING = strawberry.enum_value("running", description="A job is carrying it out.")
    DONE = strawberry.enum_value("done", description="Finished.")
    FAILED = strawberry.enum_value("failed", description="Retries ran out: `error` says why.")
    CANCELED = strawberry.enum_value("canceled", description="Called off before it ran.")


@strawberry.enum(description="What an export holds.")
class DataExportKind(enum.Enum):
    PERSONAL = strawberry.enum_value("user_export", description="Everything about you.")
    ORGANIZATION = strawberry.enum_value("org_export",
                                         description="All of one organization's data.")


def status_of(work: models.ScheduledWork) -> WorkStatus:
    return WorkStatus(work.status.value)


@strawberry.type(description="An export archive (a ZIP) you asked for, and where it stands.")
class DataExport:
    work: strawberry.Private[models.ScheduledWork]

    @strawberry.field(description="Opaque id of the export.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(relay.to_base64("DataExport", str(self.work.id)))

    @strawberry.field(description="Your own data, or an organization's.")
    def kind(self) -> DataExportKind:
        return DataExportKind(self.work.kind.value)

    @strawberry.field(description="Where it stands; DONE means it can be downloaded until "
                                  "`expiresAt`.")
    def status(self) -> WorkStatus:
        return status_of(self.work)

    @strawberry.field(description="The organization exported (a global id); null for a "
                                  "personal export.")
    def organization_id(self) -> strawberry.ID | None:
        org_id = self.work.organization_id
        return strawberry.ID(relay.to_base64("Organization", str(org_id))) if org_id else None

    @strawberry.field(description="When you asked for it.")
    def requested_at(self) -> datetime.datetime:
        return self.work.created_at

    @strawberry.field(description="When it was ready (or failed).")
    def finished_at(self) -> datetime.datetime | None:
        return self.work.finished_at

    @strawberry.field(description="When the archive is deleted and links stop working.")
    def expires_at(self) -> datetime.datetime | None:
        return self.work.expires_at if self.work.archive_key else None

    @strawberry.field(description="Size of the ZIP in bytes, once ready.")
    def size_bytes(self) -> int | None:
        return self.work.archive_size if self.work.archive_key else None

    @strawberry.field(description="When a download link was last used.")
    def downloaded_at(self) -> datetime.datetime | None:
        return self.work.downloaded_at

    @strawberry.field(description="Why it failed, when it did.")
    def error(self) -> str | None:
        return "The export could not be prepared; ask for a new one." \
            if self.work.status is models.WorkStatus.FAILED else None

    @strawberry.field(description="A single-use link (`GET /exports/{token}`) to the ZIP, while "
                                  "it is ready and not expired. Each read gives a new link and "
                                  "ends the previous one.")
    async def download_url(self, info: Info) -> str | None:
        return await resolvers.fresh_download_url(info.context, self.work)


@strawberry.type(description="What `Me` holds of data exports (`schema/composition.py` composes "
                             "`Me`). Not in the schema itself.")
class MeExportFields:
    @relay.connection(
        Connection[DataExport],  # type: ignore[type-var]  # DataExport is no Node
        description="Your data exports, newest first, expired and failed ones included. "
                    + VIEWER_ONLY.format(empty="empty"))
    def data_exports(self, root: strawberry.Parent[account_models.User],
                     info: Info) -> list[DataExport]:
        if not is_viewer(root, info):
            return []
        return cast("list[DataExport]", Rows(resolvers.my_exports_query(info.context),
                    wrap=lambda work: DataExport(work=work)))


@strawberry.type(description="The result of `requestDataExport`.")
class RequestDataExportPayload:
    data_export: DataExport = strawberry.field(
        description="The export asked for, PENDING until a job has built it.")


@strawberry.input(description="The organization to export.")
class ExportOrganizationInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")


@strawberry.type(description="The result of `exportOrganization`.")
class ExportOrganizationPayload:
    data_export: DataExport = strawberry.field(
        description="The export asked for, PENDING until a job has built it.")


@strawberry.type
class ExportMutations:
    @strawberry.mutation(
        description="Prepare a ZIP (JSON) of everything Relleks holds about you. It is built in "
                    "the background: an email and `me.dataExports` give the download link.",
        extensions=[requires(IsAuthenticated())])
    async def request_data_export(self, info: Info) -> RequestDataExportPayload:
        return RequestDataExportPayload(
            data_export=DataExport(work=await resolvers.request_data_export(info.context)))

    @strawberry.mutation(
        description="Prepare a ZIP of all the organization's data, each table as JSON and CSV "
                    "(`org:export`, OWNER, a person). Delivered like `requestDataExport`.",
        extensions=[requires(HasPermission(Permission.ORG_EXPORT,
                                           org=org_from_argument("input.organization_id")),
                             IsAuthenticated())])
    async def export_organization(self, info: Info,
                                  input: ExportOrganizationInput) -> ExportOrganizationPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        return ExportOrganizationPayload(data_export=DataExport(
            work=await resolvers.export_organization(info.context, org_id)))
