"""The activity log in the API: `ActivityEvent` and its filter."""

from __future__ import annotations

import datetime

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from loaders import loaded
from models import activity as models
from schema.accounts import User
from schema.base import Info, ModelNode, relation


@strawberry.type(description="One change to an organization's data: who, what, when, from where.")
class ActivityEvent(ModelNode):
    model = models.ActivityEvent

    id: relay.NodeID[str]
    action: str = strawberry.field(
        description="What happened, as `<object>.<verb>`, e.g. `member.role_changed`.")
    target_type: str = strawberry.field(description="The kind of object changed.")
    summary: JSON = strawberry.field(description="What changed, e.g. `{\"role\": [old, new]}`.")
    ip: str | None = strawberry.field(description="IP address of the request.")
    user_agent: str | None = strawberry.field(description="User-Agent of the request.")
    created_at: datetime.datetime = strawberry.field(description="When it happened.")

    @strawberry.field(description="Global id of the object changed, when it has one.")
    def target_id(self, root: strawberry.Parent[models.ActivityEvent]) -> strawberry.ID | None:
        if root.target_id is None:
            return None
        type_name = {"organization": "Organization", "membership": "Membership",
                     "invitation": "Invitation"}.get(root.target_type, root.target_type)
        return strawberry.ID(str(relay.GlobalID(type_name, str(root.target_id))))

    @strawberry.field(description="The API token that did it (the id `organization.apiTokens` "
                                  "lists); null when a person or the system did.")
    def actor_token_id(self, root: strawberry.Parent[models.ActivityEvent]) -> strawberry.ID | None:
        if root.api_token_id is None:
            return None
        return strawberry.ID(str(relay.GlobalID("ApiToken", str(root.api_token_id))))

    @strawberry.field(name="actorAuthorizedAppId",
                      description="The partner app (OAuth grant) that did it: the id "
                                  "`organization.authorizedApps` lists; null otherwise.")
    def actor_authorized_app_id(
            self, root: strawberry.Parent[models.ActivityEvent]) -> strawberry.ID | None:
        if root.oauth_grant_id is None:
            return None
        return strawberry.ID(str(relay.GlobalID("AuthorizedApp", str(root.oauth_grant_id))))

    @strawberry.field(description="Who did it; null for the system, a deleted account, an "
                                  "API token (see `actorTokenId`) or a partner app (see "
                                  "`actorAuthorizedAppId`).",
                      metadata=relation("actor_id", "user"))
    def actor(self, root: strawberry.Parent[models.ActivityEvent], info: Info) -> User | None:
        if root.actor_id is None:
            return None
        return loaded(info.context.loaders.user, root.actor_id)  # type: ignore[return-value]



@strawberry.input(description="Narrow the activity log.")
class ActivityFilter:
    action: str | None = strawberry.field(default=None, description="Only this action.")
    actor_id: relay.GlobalID | None = strawberry.field(default=None,
                                                       description="Only this user's actions.")
    since: datetime.datetime | None = strawberry.field(default=None,
                                                       description="Only events at or after.")
