"""Lead forms in the API: the `LeadForm` and `FormSubmission` types, `organization.leadForms`
(`OrganizationFormFields`), `leadForm.submissions`, and the mutations that manage forms and
decide held submissions.

Reading needs `forms:read` (MEMBER and up), changing `forms:write` (ADMIN and up); both may be
API-token scopes. docs/forms.md describes the whole; the public pages are `web/`'s.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Iterable
from typing import Annotated, Any, cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from core.errors import at_most
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum, relation
from engine.keyset import keyset_page, scope_of
from engine.permissions import HasPermission, org_from_argument, org_from_source, org_of, requires
from models import forms as models
from models import orgs as org_models
from resolvers import forms as resolvers
from schema.accounts import User
from schema.leads import KeysetConnection, Lead, max_page

FormStatus = models.FormStatus
described_enum(models.FormStatus, description="Whether a lead form takes submissions.", values={
    models.FormStatus.ACTIVE: "It takes submissions (the default).",
    models.FormStatus.PAUSED: "Its page says it is paused and it takes nothing "
                              "(`resumeLeadForm` to reopen it).",
})
SubmissionStatus = models.SubmissionStatus
described_enum(models.SubmissionStatus, description="What became of a form submission.",
               values={
    models.SubmissionStatus.ACCEPTED: "Taken: it made a lead, or a note on the person's lead "
                                      "(unless their processing is restricted: signal "
                                      "`restricted`). Only these make leads.",
    models.SubmissionStatus.HELD: "Kept for review: no solved challenge, or the plan's "
                                  "monthly submissions or leads used up (signal "
                                  "`plan_limit`). `releaseSubmission` takes it.",
    models.SubmissionStatus.SPAM: "Failed a check (`signals` say which); deleted 30 days after "
                                  "it arrived unless released.",
    models.SubmissionStatus.PENDING: "Double opt-in: waiting for the person to open the "
                                     "mailed link (it expires after 48 hours).",
    models.SubmissionStatus.DISCARDED: "Thrown away (`discardSubmission`); its values are "
                                       "gone.",
})
FormFieldName = models.FormField
described_enum(models.FormField, name="FormFieldName",
               description="A lead field a form may ask for.", values={
    models.FormField.NAME: "The person's name (the lead's name; the email stands in when "
                           "the form does not ask it).",
    models.FormField.EMAIL: "Their email: every form asks it, required.",
    models.FormField.PHONE: "Their phone, read with the organization's default region.",
    models.FormField.COMPANY: "Where they work.",
    models.FormField.TITLE: "Their job title.",
    models.FormField.MESSAGE: "Free text, up to 5,000 characters: a note on the lead.",
})


@strawberry.type(description="A lead field a form asks for.")
class LeadFormField:
    name: FormFieldName = strawberry.field(description="Which field.")
    required: bool = strawberry.field(description="Whether the form refuses to be sent "
                                                  "without it.")


@strawberry.type(description="What the hosted page shows above the form.")
class LeadFormPage:
    title: str | None = strawberry.field(description="The heading; the form's name when null.")
    intro: str | None = strawberry.field(description="A short text under it.")
    logo_url: str | None = strawberry.field(description="An https:// image URL.")
    accent_color: str | None = strawberry.field(description="`#rrggbb`, for the button.")


@strawberry.type(description="The values a submission carried, cleaned as lead fields are.")
class SubmissionValues:
    name: str | None = strawberry.field(description="The name sent.")
    email: str | None = strawberry.field(description="The email sent, normalised.")
    phone: str | None = strawberry.field(description="The phone sent, E.164.")
    company: str | None = strawberry.field(description="The company sent.")
    title: str | None = strawberry.field(description="The job title sent.")
    message: str | None = strawberry.field(description="The message sent.")


@strawberry.type(description="One submission of a lead form: personal data, handle with care.")
class FormSubmission(ModelNode):
    model = models.FormSubmission

    id: relay.NodeID[str]
    status: SubmissionStatus = strawberry.field(description="What became of it.")
    signals: list[str] = strawberry.field(
        description="Why it is SPAM or HELD (or was taken without a lead), e.g. `honeypot`, "
                    "`no_challenge`, `plan_limit`, `restricted`.")
    origin: str | None = strawberry.field(description="The origin of the page it came from.")
    user_agent: str | None = strawberry.field(description="The browser's User-Agent.")
    consent_given: bool = strawberry.field(description="Whether the consent box was ticked.")
    created_at: datetime.datetime = strawberry.field(description="When it arrived.")
    confirmed_at: datetime.datetime | None = strawberry.field(
        description="Double opt-in: when the person opened the mailed link.")
    decided_at: datetime.datetime | None = strawberry.field(
        description="When someone released or discarded it.")

    @strawberry.field(description="What was sent.")
    def values(self, root: strawberry.Parent[models.FormSubmission]) -> SubmissionValues:
        sent = root.values or {}
        return SubmissionValues(**{field.value: sent.get(field.value)
                                   for field in models.FormField})

    @strawberry.field(description="The lead it made or joined; null until it is accepted, or "
                                  "when that lead is gone or hidden from you.")
    async def lead(self, root: strawberry.Parent[models.FormSubmission],
                   info: Info) -> Lead | None:
        if root.lead_id is None:
            return None
        found = await info.context.loaders.leads_of_org(root.organization_id).load(root.lead_id)
        return cast("Lead | None", found)


@strawberry.type(name="FormSubmissionConnection",
                 description="Submissions, newest first, with stable keyset cursors.")
class FormSubmissionConnection(KeysetConnection[FormSubmission]):
    pass


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


@strawberry.type(description="A public form whose submissions become the organization's "
                             "leads: hosted at `hostedUrl`, or embedded in the organization's "
                             "own pages (`embedSnippet`).")
class LeadForm(ModelNode):
    model = models.LeadForm

    id: relay.NodeID[str]
    name: str = strawberry.field(description="What it is called, 1 to 100 characters.")
    public_id: str = strawberry.field(description="The unguessable id in its public URL (the "
                                                  "only id there).")
    allowed_origins: list[str] = strawberry.field(
        description="Origins (`https://www.example.com`) whose pages may embed it or post to "
                    "it.")
    consent_text: str | None = strawberry.field(description="The consent text shown beside "
                                                            "its checkbox.")
    consent_required: bool = strawberry.field(description="Whether the box must be ticked.")
    double_opt_in: bool = strawberry.field(
        description="Whether a submission waits for the person to open a mailed link before "
                    "it makes a lead.")
    success_message: str | None = strawberry.field(
        description="Shown after a submission (when there is no `redirectUrl`).")
    redirect_url: str | None = strawberry.field(
        description="Where the browser goes after a submission: on one of "
                    "`allowedOrigins`.")
    status: FormStatus = strawberry.field(description="Whether it takes submissions.")
    created_at: datetime.datetime = strawberry.field(description="When it was created.")
    updated_at: datetime.datetime = strawberry.field(description="When it was last changed.")

    created_by = relation(
        "created_by_id", "user", graphql_type=User | None,
        description="Who created it; null when that account is gone.")

    @strawberry.field(description="The fields it asks for, in order.")
    def fields(self, root: strawberry.Parent[models.LeadForm]) -> list[LeadFormField]:
        return [LeadFormField(name=field, required=required)
                for field, required in root.asked.items()]

    @strawberry.field(description="What its hosted page shows above the form.")
    def page(self, root: strawberry.Parent[models.LeadForm]) -> LeadFormPage:
        return LeadFormPage(title=root.page_title, intro=root.page_intro,
                            logo_url=root.logo_url, accent_color=root.accent_color)

    @strawberry.field(description="Its hosted page: `PUBLIC_URL/f/{publicId}`.")
    def hosted_url(self, root: strawberry.Parent[models.LeadForm], info: Info) -> str:
        return f"{info.context.services.settings.public_url.rstrip('/')}/f/{root.public_id}"

    @strawberry.field(description="HTML to paste into a page of one of `allowedOrigins`: an "
                                  "iframe of the hosted page. A site may instead POST JSON "
                                  "to `hostedUrl` (see docs/forms.md).")
    def embed_snippet(self, root: strawberry.Parent[models.LeadForm], info: Info) -> str:
        url = f"{info.context.services.settings.public_url.rstrip('/')}/f/{root.public_id}"
        title = _escape(root.page_title or root.name)
        return (f'<iframe src="{_escape(url)}" title="{title}" width="100%" height="640" '
                f'style="border:0;max-width:640px" loading="lazy" '
                f'referrerpolicy="strict-origin-when-cross-origin"></iframe>\n'
                f'<!-- Or POST JSON ({{"name": ..., "email": ..., "consent": "yes"}}) to '
                f'{_escape(url)} from this site: see the API docs, docs/forms.md. -->')

    @strawberry.field(description="Its submissions, newest first (`forms:read`).",
                      extensions=[requires(HasPermission(Permission.FORMS_READ,
                                                         org=org_from_source()))])
    async def submissions(
            self, root: strawberry.Parent[models.LeadForm], info: Info,
            status: Annotated[list[SubmissionStatus] | None, strawberry.argument(
                description=f"Only these statuses, at most {len(models.SubmissionStatus)}; "
                            "all when absent.")] = None,
            first: Annotated[int | None, strawberry.argument(
                description="Submissions from the start (or after `after`), 0 to 100.")] = None,
            after: Annotated[str | None, strawberry.argument(
                description="A cursor of this list: the submissions after it.")] = None,
            last: Annotated[int | None, strawberry.argument(
                description="Submissions from the end (or before `before`), 0 to 100.")] = None,
            before: Annotated[str | None, strawberry.argument(
                description="A cursor of this list: the submissions before it.")] = None,
    ) -> FormSubmissionConnection:
        at_most("status", status, len(models.SubmissionStatus))
        statuses = [models.SubmissionStatus(s) for s in status] if status else None
        query = resolvers.submissions_query(info.context, root, statuses)
        order = resolvers.SUBMISSION_ORDER
        page = await keyset_page(query, order, seal=info.context.services.cursors,
                                 scope=scope_of("submissions", root.id, order), first=first,
                                 after=after, last=last, before=before,
                                 max_results=max_page(info))
        return cast("FormSubmissionConnection",
                    FormSubmissionConnection.from_page(page, query.count))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list:
        wanted = list(node_ids)
        visible = await info.context.visible(models.LeadForm, wanted, Permission.FORMS_READ)
        return [visible.get(node_id) for node_id in wanted]


@strawberry.type(description="What `Organization` holds of lead forms (`schema/composition.py` "
                             "composes `Organization`). Not in the schema itself.")
class OrganizationFormFields:
    @relay.connection(Connection[LeadForm], description="Lead forms, newest first.",
                      extensions=[requires(HasPermission(Permission.FORMS_READ,
                                                         org=org_from_source()))])
    def lead_forms(self, root: strawberry.Parent[org_models.Organization],
                   info: Info) -> list[LeadForm]:
        return cast("list[LeadForm]", Rows(resolvers.forms_query(info.context, root.id)))


MAX_ORIGINS = resolvers.MAX_ORIGINS
MAX_FIELDS = resolvers.MAX_FIELDS


@strawberry.input(description="A lead field the form asks for.")
class LeadFormFieldInput:
    name: FormFieldName = strawberry.field(description="Which field.")
    required: bool = strawberry.field(default=False, description="Whether it must be filled "
                                                                 "in; false when absent.")


@strawberry.input(description="What the hosted page shows above the form; every part is "
                              "optional.")
class LeadFormPageInput:
    title: str | None = strawberry.field(default=None, description="The heading, up to 200 "
                                                                   "characters.")
    intro: str | None = strawberry.field(default=None, description="A short text, up to 1,000 "
                                                                   "characters.")
    logo_url: str | None = strawberry.field(default=None, description="An https:// image URL.")
    accent_color: str | None = strawberry.field(default=None, description="`#rrggbb`.")


FIELDS_INPUT = (f"The fields asked, in order, at most {MAX_FIELDS}, each once; `email` must "
                "be one of them, required.")
ORIGINS_INPUT = (f"At most {MAX_ORIGINS} origins, each `https://host[:port]` (http only for "
                 "localhost), nothing after the host.")


@strawberry.input(description="A new lead form.")
class CreateLeadFormInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization whose "
                                                                   "leads it makes.")
    name: str = strawberry.field(description="What it is called, 1 to 100 characters.")
    fields: list[LeadFormFieldInput] = strawberry.field(description=FIELDS_INPUT)
    allowed_origins: list[str] = strawberry.field(default_factory=list,
                                                  description=ORIGINS_INPUT)
    consent_text: str | None = strawberry.field(default=None, description="Up to 2,000 "
                                                                          "characters.")
    consent_required: bool = strawberry.field(default=False, description="Whether the box "
                                                                         "must be ticked "
                                                                         "(needs a text).")
    double_opt_in: bool = strawberry.field(default=False, description="Make the lead only "
                                                                      "once the person opens "
                                                                      "a mailed link.")
    success_message: str | None = strawberry.field(default=None, description="Up to 1,000 "
                                                                             "characters.")
    redirect_url: str | None = strawberry.field(default=None, description="A URL on one of "
                                                                          "`allowedOrigins`.")
    page: LeadFormPageInput | None = strawberry.field(default=None, description="The page's "
                                                                                "content.")


@strawberry.input(description="Settings to change; absent ones stay as they are, null clears.")
class UpdateLeadFormInput:
    id: relay.GlobalID = strawberry.field(description="The form.")
    name: strawberry.Maybe[str | None] = strawberry.field(description="1 to 100 characters. "
                                                                      "Null is refused.")
    fields: strawberry.Maybe[list[LeadFormFieldInput] | None] = strawberry.field(
        description=FIELDS_INPUT + " Null is refused.")
    allowed_origins: strawberry.Maybe[list[str] | None] = strawberry.field(
        description=ORIGINS_INPUT + " Null clears them.")
    consent_text: strawberry.Maybe[str | None] = strawberry.field(description="Null clears it.")
    consent_required: strawberry.Maybe[bool | None] = strawberry.field(
        description="Null is refused.")
    double_opt_in: strawberry.Maybe[bool | None] = strawberry.field(description="Null is "
                                                                                "refused.")
    success_message: strawberry.Maybe[str | None] = strawberry.field(description="Null clears "
                                                                                "it.")
    redirect_url: strawberry.Maybe[str | None] = strawberry.field(description="Null clears it.")
    page: strawberry.Maybe[LeadFormPageInput | None] = strawberry.field(
        description="The whole new page content (it replaces the old); null clears it.")


@strawberry.input(description="The lead form to pause.")
class PauseLeadFormInput:
    id: relay.GlobalID = strawberry.field(description="The form.")


@strawberry.input(description="The lead form to resume.")
class ResumeLeadFormInput:
    id: relay.GlobalID = strawberry.field(description="The form.")


@strawberry.input(description="The lead form to delete.")
class DeleteLeadFormInput:
    id: relay.GlobalID = strawberry.field(description="The form.")


@strawberry.input(description="The HELD or SPAM submission to accept.")
class ReleaseSubmissionInput:
    id: relay.GlobalID = strawberry.field(description="The submission.")


@strawberry.input(description="The submission to throw away.")
class DiscardSubmissionInput:
    id: relay.GlobalID = strawberry.field(description="The submission.")


@strawberry.type(description="What createLeadForm made.")
class CreateLeadFormPayload:
    lead_form: LeadForm = strawberry.field(description="The new form, ACTIVE.")


@strawberry.type(description="What updateLeadForm changed.")
class UpdateLeadFormPayload:
    lead_form: LeadForm = strawberry.field(description="The form, as it is now.")


@strawberry.type(description="What pauseLeadForm changed.")
class PauseLeadFormPayload:
    lead_form: LeadForm = strawberry.field(description="The form, PAUSED.")


@strawberry.type(description="What resumeLeadForm changed.")
class ResumeLeadFormPayload:
    lead_form: LeadForm = strawberry.field(description="The form, ACTIVE.")


@strawberry.type(description="What deleteLeadForm deleted.")
class DeleteLeadFormPayload:
    deleted_id: relay.GlobalID = strawberry.field(description="The deleted form's id.")


@strawberry.type(description="What releaseSubmission did.")
class ReleaseSubmissionPayload:
    submission: FormSubmission = strawberry.field(
        description="The submission: ACCEPTED (with its lead), or PENDING when its form asks "
                    "for double opt-in and the person never confirmed.")


@strawberry.type(description="What discardSubmission did.")
class DiscardSubmissionPayload:
    submission: FormSubmission = strawberry.field(description="The submission, DISCARDED.")


def _page(value: LeadFormPageInput | None) -> resolvers.PageContent | None:
    if value is None:
        return None
    return resolvers.PageContent(title=value.title, intro=value.intro, logo_url=value.logo_url,
                                 accent_color=value.accent_color)


def _fields(items: list[LeadFormFieldInput] | None) -> list[tuple[str, bool]] | None:
    if items is None:
        return None
    at_most("fields", items, MAX_FIELDS)
    return [(models.FormField(item.name).value, item.required) for item in items]


def _form_id(value: relay.GlobalID) -> Any:
    return decode_id(value, "LeadForm", field="id")


def _write_form(permission: Permission = Permission.FORMS_WRITE) -> Any:
    return requires(HasPermission(permission, org=org_of(models.LeadForm, "LeadForm",
                                                         "input.id")))


def _write_submission() -> Any:
    return requires(HasPermission(Permission.FORMS_WRITE,
                                  org=org_of(models.FormSubmission, "FormSubmission",
                                             "input.id")))


@strawberry.type
class FormQueries:
    @strawberry.field(description="A lead form of an organization you belong to.",
                      extensions=[requires(HasPermission(
                          Permission.FORMS_READ, org=org_of(models.LeadForm, "LeadForm", "id")))])
    async def lead_form(self, info: Info, id: Annotated[relay.GlobalID, strawberry.argument(
            description="The form's global id.")]) -> LeadForm:
        return cast("LeadForm", await resolvers.get_form(info.context, _form_id(id)))


@strawberry.type
class FormMutations:
    @strawberry.mutation(description="Create a lead form; the plan caps how many an "
                                     "organization holds.",
                         extensions=[requires(HasPermission(
                             Permission.FORMS_WRITE,
                             org=org_from_argument("input.organization_id")))])
    async def create_lead_form(self, info: Info,
                               input: CreateLeadFormInput) -> CreateLeadFormPayload:
        at_most("allowedOrigins", input.allowed_origins, MAX_ORIGINS)
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        data = {"name": input.name, "fields": _fields(input.fields),
                "allowed_origins": input.allowed_origins, "consent_text": input.consent_text,
                "consent_required": input.consent_required,
                "double_opt_in": input.double_opt_in, "success_message": input.success_message,
                "redirect_url": input.redirect_url, "page": _page(input.page)}
        form = await resolvers.create_form(info.context, org_id, data)
        return CreateLeadFormPayload(lead_form=cast("LeadForm", form))

    @strawberry.mutation(description="Change some settings of a lead form.",
                         extensions=[_write_form()])
    async def update_lead_form(self, info: Info,
                               input: UpdateLeadFormInput) -> UpdateLeadFormPayload:
        data: dict[str, Any] = {}
        for name in ("name", "allowed_origins", "consent_text", "consent_required",
                     "double_opt_in", "success_message", "redirect_url"):
            given = getattr(input, name)
            if given is not None:
                data[name] = given.value
        if input.fields is not None:
            data["fields"] = _fields(input.fields.value)
        if input.page is not None:
            data["page"] = _page(input.page.value)
        at_most("allowedOrigins", data.get("allowed_origins"), MAX_ORIGINS)
        form = await resolvers.update_form(info.context, _form_id(input.id), data)
        return UpdateLeadFormPayload(lead_form=cast("LeadForm", form))

    @strawberry.mutation(description="Pause a lead form: it takes no submissions until "
                                     "resumed.", extensions=[_write_form()])
    async def pause_lead_form(self, info: Info, input: PauseLeadFormInput) -> PauseLeadFormPayload:
        form = await resolvers.set_form_status(info.context, _form_id(input.id),
                                               models.FormStatus.PAUSED)
        return PauseLeadFormPayload(lead_form=cast("LeadForm", form))

    @strawberry.mutation(description="Let a paused lead form take submissions again.",
                         extensions=[_write_form()])
    async def resume_lead_form(self, info: Info,
                               input: ResumeLeadFormInput) -> ResumeLeadFormPayload:
        form = await resolvers.set_form_status(info.context, _form_id(input.id),
                                               models.FormStatus.ACTIVE)
        return ResumeLeadFormPayload(lead_form=cast("LeadForm", form))

    @strawberry.mutation(description="Delete a lead form and its submissions; the leads it "
                                     "made and their consent receipts stay.",
                         extensions=[_write_form()])
    async def delete_lead_form(self, info: Info,
                               input: DeleteLeadFormInput) -> DeleteLeadFormPayload:
        await resolvers.delete_form(info.context, _form_id(input.id))
        return DeleteLeadFormPayload(deleted_id=input.id)

    @strawberry.mutation(description="Accept a HELD or SPAM submission: it makes (or joins) "
                                     "its lead. CONFLICT (reason SUBMISSION_DECIDED) for any "
                                     "other status.", extensions=[_write_submission()])
    async def release_submission(self, info: Info,
                                 input: ReleaseSubmissionInput) -> ReleaseSubmissionPayload:
        submission = await resolvers.release_submission(
            info.context, decode_id(input.id, "FormSubmission", field="id"))
        return ReleaseSubmissionPayload(submission=cast("FormSubmission", submission))

    @strawberry.mutation(description="Throw away a HELD, SPAM or PENDING submission; its "
                                     "values are deleted at once.",
                         extensions=[_write_submission()])
    async def discard_submission(self, info: Info,
                                 input: DiscardSubmissionInput) -> DiscardSubmissionPayload:
        submission = await resolvers.discard_submission(
            info.context, decode_id(input.id, "FormSubmission", field="id"))
        return DiscardSubmissionPayload(submission=cast("FormSubmission", submission))
