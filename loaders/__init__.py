"""DataLoaders, one module per domain, gathered per request by `Loaders` (see `engine/context.py`).

They are built per request, never at module level: a loader caches, and a cache shared across
requests would be shared across users and tenants.

Layer: below the engine, above `auth`; their base and `peek`/`loaded` are `core/loading.py`.
"""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import TYPE_CHECKING

from loaders.accounts import UserLoader
from loaders.ai import GenerationsFirstPageLoader
from loaders.forms import LeadsOfOrgLoader
from loaders.jobs import ScheduledWorkLoader
from loaders.leads import NotesFirstPageLoader
from loaders.oauth import OAuthAppLoader
from loaders.orgs import OrganizationLoader, OrgIdBySlugLoader, OwnerOrgLoader
from loaders.support import AttachmentsOfMessageLoader
from models.tenancy import TenantModel

if TYPE_CHECKING:
    from auth.access import Access



class Loaders:
    """The request's loaders, each built on first use."""

    def __init__(self, access: Access | None = None) -> None:
        self._access = access
        self._owner_orgs: dict[type[TenantModel], OwnerOrgLoader] = {}
        self._first_notes: dict[tuple[uuid.UUID, int], NotesFirstPageLoader] = {}
        self._leads_of_org: dict[uuid.UUID, LeadsOfOrgLoader] = {}
        self._first_generations: dict[tuple[uuid.UUID, int], GenerationsFirstPageLoader] = {}

    @cached_property
    def user(self) -> UserLoader:
        return UserLoader()

    @cached_property
    def scheduled_work(self) -> ScheduledWorkLoader:
        return ScheduledWorkLoader()

    @cached_property
    def oauth_app(self) -> OAuthAppLoader:
        return OAuthAppLoader()

    @cached_property
    def support_attachments(self) -> AttachmentsOfMessageLoader:
        """Each support message's attachments (messages of tickets already checked)."""
        return AttachmentsOfMessageLoader()

    @cached_property
    def organization(self) -> OrganizationLoader:
        return OrganizationLoader()

    @cached_property
    def org_id_by_slug(self) -> OrgIdBySlugLoader:
        return OrgIdBySlugLoader(self.organization, self._access)

    def first_notes(self, org_id: uuid.UUID, limit: int) -> NotesFirstPageLoader:
        """The newest `limit` notes per lead, for leads of an org whose access was checked."""
        key = (org_id, limit)
        if key not in self._first_notes:
            assert self._access is not None, "notes are read through the request's access"
            self._first_notes[key] = NotesFirstPageLoader(self._access, org_id, limit)
        return self._first_notes[key]

    def first_ai_generations(self, org_id: uuid.UUID, limit: int) -> GenerationsFirstPageLoader:
        """The newest `limit` AI generations per lead, for leads of an org whose access was
        checked."""
        key = (org_id, limit)
        if key not in self._first_generations:
            assert self._access is not None, "generations are read through the request's access"
            self._first_generations[key] = GenerationsFirstPageLoader(self._access, org_id,
                                                                      limit)
        return self._first_generations[key]

    def leads_of_org(self, org_id: uuid.UUID) -> LeadsOfOrgLoader:
        """Leads of an org whose access was checked, by id (a page of submissions' leads)."""
        if org_id not in self._leads_of_org:
            assert self._access is not None, "leads are read through the request's access"
            self._leads_of_org[org_id] = LeadsOfOrgLoader(self._access, org_id)
        return self._leads_of_org[org_id]

    def org_of(self, model: type[TenantModel]) -> OwnerOrgLoader:
        if model not in self._owner_orgs:
            self._owner_orgs[model] = OwnerOrgLoader(model, self._access)
        return self._owner_orgs[model]
