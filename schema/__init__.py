"""The schema object: every domain's queries and mutations, and the protections around them.

Limits (documented in the README) let real client queries through, Q1 with `edges { node }`
included, and stop abusive ones before they execute.

Layer: below `web`; above everything else. A domain's types live in its own module;
`composition.py` composes `Me` and `Organization` from what each domain contributes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError, parse, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.base import get_object_definition

from engine.cost import CostLimit, CostQueries
from engine.documents import DocumentParserCache, DocumentValidationCache
from engine.execution import LeanExecutionContext
from engine.extensions import (
    CsrfGuard,
    ErrorCodes,
    InputLiterals,
    NulGuard,
    OneConnectionPerQuery,
    OperationName,
    Tracing,
    max_directives_rule,
)
from engine.fields import describe_mutation_inputs, describe_paging_arguments
from engine.node import NodeQueries
from engine.permissions import check_locators
from schema.account_emails import AccountEmailMutations
from schema.accounts import AccountMutations, AccountQueries
from schema.ai import AiMutations, AiSubscriptions
from schema.avatars import AvatarMutations
from schema.billing import BillingMutations, BillingQueries
from schema.consents import ConsentMutations
from schema.custom_domains import CustomDomainMutations
from schema.data_subjects import DataSubjectMutations
from schema.deletions import DeletionMutations, DeletionQueries
from schema.encryption import EncryptionMutations
from schema.exports import ExportMutations
from schema.forms import FormMutations, FormQueries
from schema.leads import LeadMutations, LeadQueries
from schema.list_bounds import LIST_BOUNDS
from schema.members import MemberMutations
from schema.oauth import OAuthMutations, OAuthQueries
from schema.orgs import OrgMutations, OrgQueries
from schema.policies import PolicyMutations, PolicyQueries
from schema.privacy_requests import PrivacyRequestMutations
from schema.realtime import RealtimeSubscriptions
from schema.scalars import SCALAR_OVERRIDES
from schema.social import SocialMutations, SocialQueries
from schema.support import SupportMutations, SupportQueries
from schema.tokens import TokenMutations, TokenQueries
from schema.usage import UsageMutations
from schema.webhooks import WebhookMutations

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 1000
MAX_DIRECTIVES = 50
MAX_PAGE_SIZE = 100

Query = merge_types("Query", (NodeQueries, AccountQueries, OrgQueries, LeadQueries,
                             BillingQueries, TokenQueries, CostQueries, OAuthQueries,
                             SocialQueries, PolicyQueries, DeletionQueries, FormQueries,
                             SupportQueries))
Mutation = merge_types("Mutation", (
    AccountMutations, AccountEmailMutations, AvatarMutations, OrgMutations, MemberMutations,
    LeadMutations, BillingMutations, TokenMutations, OAuthMutations, SocialMutations,
    ConsentMutations, PolicyMutations, DataSubjectMutations, ExportMutations,
    DeletionMutations, FormMutations, CustomDomainMutations, WebhookMutations, AiMutations,
    EncryptionMutations,
    UsageMutations,
    SupportMutations,
    PrivacyRequestMutations,
))

Subscription = merge_types("Subscription", (RealtimeSubscriptions, AiSubscriptions))

# `merge_types` takes no description: the merged root types get theirs here.
get_object_definition(Query, strict=True).description = (
    "Everything a client reads. Start from `me` (you, with your memberships) or "
    "`organization(slug:)`; `node(id:)` fetches any object you may see by its global id. "
    "`plans`, `scopes`, `socialProviders`, `currentPolicy` and `rateLimit` are public; the "
    "rest needs a credential (`Authorization: Bearer <access token, API token or partner app "
    "token>`, or the session cookie), and each field names the permission it needs.")
get_object_definition(Mutation, strict=True).description = (
    "Everything a client changes. Sent with session cookies, a mutation needs the "
    "`X-CSRF-Token` header (the value of the CSRF cookie). Bad input answers BAD_USER_INPUT "
    "with every offending field in `extensions.fields`.")
get_object_definition(Subscription, strict=True).description = (
    "Live events, over a WebSocket only (`graphql-transport-ws` on `/graphql`; over HTTP: "
    "BAD_USER_INPUT, reason SUBSCRIPTION_OVER_HTTP). Authenticate in `connection_init` with "
    '`{"Authorization": "Bearer <token>"}`; the socket closes with 4401 when that credential '
    "ends, and each event is checked against your permissions as it is delivered.")

DESCRIPTION = (
    "Relleks, a multi-tenant CRM: accounts, organizations with roles, leads and notes, billing, "
    "partner apps (API tokens and OAuth 2), data rights and realtime subscriptions. IDs are "
    "opaque Relay global ids. Every error carries a stable `extensions.code` (UNAUTHENTICATED, "
    "FORBIDDEN with `extensions.permission`, NOT_FOUND, BAD_USER_INPUT with "
    "`extensions.fields`, CONFLICT, RATE_LIMITED with `extensions.retryAfter`, PLAN_LIMIT, "
    "UNAVAILABLE, INTERNAL with `extensions.requestId`): branch on it, never on the message. "
    "An object of an organization you are not in is NOT_FOUND, never FORBIDDEN.")


class Schema(strawberry.Schema):
    def __init__(self, *args: Any, description: str | None = None,
                 document_rules: Sequence[type[ASTValidationRule]] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.document_rules = tuple(document_rules)
        """The validation rules a request's document meets (graphql's and the extensions'),
        for `prepare_document`."""
        # Strawberry takes no schema description; graphql-core's schema carries one and
        # introspection shows it (`__schema { description }`). Strawberry's SDL printer
        # does not print it (a TODO in strawberry/printer/printer.py).
        self._schema.description = description
        describe_paging_arguments(self._schema, self.config.relay_max_results)
        describe_mutation_inputs(self._schema)
        check_locators(self)  # a permission reading a missing argument stops start-up

    def prepare_document(self, text: str) -> DocumentNode:
        """A trusted document's text parsed and validated as a request's would be (the token
        limit, the validation rules of the extensions), once at start
        (`engine.documents.TrustedDocuments.load`); raises GraphQLError for the first fault."""
        document = parse(text, max_tokens=MAX_TOKENS)
        errors = validate_document(self._schema, document, self.document_rules)
        if errors:
            raise errors[0]
        return document

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Errors are logged by `ErrorCodes` (internal ones only, with the request id)."""


@functools.cache
def build_schema(*, introspection: bool = True, tracing: bool = False) -> Schema:
    """The schema, built once per process for each `introspection` setting: converting the types
    takes a good part of a second, and every app (each test makes one) would pay it again.
    `tracing=True` adds the `Tracing` extension (spans per operation phase; server.py asks for
    it when `core.tracing` is on). A
    Schema holds no per-app state: the app's services reach resolvers through the context."""
    # The limit rules are built once: the validation cache is keyed by the rule classes, so
    # rules made anew per request (as the limiter extensions do) would never hit it.
    limit_rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
        max_directives_rule(MAX_DIRECTIVES),
        InputLiterals,
    ]
    extensions: list[Any] = [
        # First: its operation span is the parent of the phases' spans (docs/observability.md).
        *([Tracing] if tracing else []),
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Strawberry's parser and validation caches, which hand a trusted document
        # (`engine/documents.py`) over as it was parsed and validated at start.
        lambda: DocumentParserCache(maxsize=256),
        lambda: DocumentValidationCache(maxsize=256),
        NulGuard,  # after the validation cache, which sets the validation's errors
        CsrfGuard,
        CostLimit.bounded(LIST_BOUNDS),  # after CsrfGuard: a refused mutation spends nothing
        OperationName,
        OneConnectionPerQuery,
        lambda: ErrorCodes(hide_suggestions=not introspection),
    ]
    document_rules = [*specified_rules, *limit_rules]
    if not introspection:
        extensions.append(DisableIntrospection)
        document_rules.append(NoSchemaIntrospectionCustomRule)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(relay_max_results=MAX_PAGE_SIZE),
        execution_context_class=LeanExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
        description=DESCRIPTION,
        document_rules=document_rules,
    )


schema = build_schema()
