"""Organizations: creating and renaming them, and the caller's memberships."""

from __future__ import annotations

import asyncio
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from typing import cast

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from auth.permissions import Permission
from core.errors import Conflict, NotFound
from core.validation import RESERVED_SLUGS, SLUG_MAX, SLUG_MIN, Checks, validate
from engine.context import Context, uuids_of
from models.accounts import User
from models.orgs import Membership, Organization, Role
from realtime.outbox import in_transaction
from resolvers.activity import record

NAME_MAX = 120


def clean_org_name(check: Checks, field: str, name: str) -> str:
    """A name's rules (`Checks.name`), at most 120 characters and nothing that reads as a web
    address: invitations quote the name to people who never chose it."""
    return check.name(field, name, max_length=NAME_MAX, links=False)


def slug_from_name(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:SLUG_MAX].strip("-")
    if len(slug) < SLUG_MIN or slug in RESERVED_SLUGS:
        slug = f"{slug}-org".strip("-") if len(slug) + 4 >= SLUG_MIN else "org"
    return slug if len(slug) >= SLUG_MIN else f"org-{secrets.token_hex(3)}"


async def _free_slug(base: str) -> str:
    """`base`, or `base-2`, `base-3`... whichever is free (derived slugs never conflict)."""
    # Candidates may cut `base` short to fit a suffix in SLUG_MAX: fetch by the shortest prefix.
    prefix = base[:SLUG_MAX - 4]
    taken = set(await Organization.filter(slug__startswith=prefix).values_list("slug", flat=True))
    if base not in taken:
        return base
    for n in range(2, 100):
        candidate = f"{base[:SLUG_MAX - len(str(n)) - 1]}-{n}"
        if candidate not in taken:
            return candidate
    return f"{base[:SLUG_MAX - 7]}-{secrets.token_hex(3)}"


async def create_organization(ctx: Context, *, name: str, slug: str | None) -> Organization:
    with validate() as check:
        name = clean_org_name(check, "name", name)
        if slug is not None:
            slug = check.slug("slug", slug)
    if slug is not None:
        if await Organization.filter(slug=slug).exists():
            raise Conflict(f"The slug `{slug}` is taken.", field="slug")
    else:
        slug = await _free_slug(slug_from_name(name))
    try:
        async with in_transaction():
            org = await Organization.create(name=name, slug=slug)
            membership = await Membership.create(organization=org, user_id=ctx.user.id,
                                                 role=Role.OWNER)
            await record(ctx, org.id, "organization.created", target_type="organization",
                         target_id=org.id, summary={"name": name, "slug": slug})
    except IntegrityError as exc:  # the same slug created concurrently
        raise Conflict(f"The slug `{slug}` is taken.", field="slug") from exc
    ctx.access.prime(membership)
    return org


async def organization(ctx: Context, org_id: uuid.UUID) -> Organization:
    org = await ctx.loaders.organization.load(org_id)
    if org is None:
        raise NotFound("organization")
    return org


async def update_organization(ctx: Context, org_id: uuid.UUID, *, name: str | None,
                              slug: str | None) -> Organization:
    org = await organization(ctx, org_id)
    with validate() as check:
        name = clean_org_name(check, "name", name) if name is not None else None
        slug = check.slug("slug", slug) if slug is not None else None
    changes: dict[str, list[str]] = {}
    if name is not None and name != org.name:
        changes["name"] = [org.name, name]
    if slug is not None and slug != org.slug:
        changes["slug"] = [org.slug, slug]
        if await Organization.filter(slug=slug).exists():
            raise Conflict(f"The slug `{slug}` is taken.", field="slug")
    if not changes:
        return org
    for field, (_, new) in changes.items():
        setattr(org, field, new)
    try:
        async with in_transaction():
            await org.save(update_fields=[*changes, "updated_at"])
            await record(ctx, org.id, "organization.updated", target_type="organization",
                         target_id=org.id, summary=changes)
    except IntegrityError as exc:
        raise Conflict("The slug is taken.", field="slug") from exc
    return org


def my_memberships_query(ctx: Context) -> QuerySet[Membership]:
    """The viewer's memberships, the oldest first (`me.memberships` pages through it)."""
    return Membership.of_user(ctx.user.id).order_by("created_at", "id")


def prime_memberships(ctx: Context, memberships: list[Membership]) -> None:
    """Tell the request's access control about memberships just read, saving a query each
    when their organizations are then checked."""
    for membership in memberships:
        ctx.access.prime(membership)


async def visible_organizations(ctx: Context,
                                org_ids: list[uuid.UUID]) -> list[Organization | None]:
    """`node(id:)` for organizations: only those the caller belongs to, whatever it may do
    there (like `organization(slug:)`, each field then checks its own permission)."""
    memberships = await asyncio.gather(*(ctx.access.membership(org_id) for org_id in org_ids))
    mine = [org_id for org_id, m in zip(org_ids, memberships, strict=True) if m is not None]
    return list(await ctx.loaders.organization.load_many(mine))


async def visible_users(ctx: Context, user_ids: Iterable[str]) -> dict[str, User]:
    """`node(id:)` for users: the viewer and the members of the viewer's organizations."""
    viewer = ctx.viewer.user
    if viewer is None:
        return {}
    ids = uuids_of(user_ids)
    orgs = await ctx.access.orgs_with(Permission.MEMBERS_READ)
    shared: set[uuid.UUID] = set(cast("list[uuid.UUID]", await ctx.access.scoped(
        Membership, orgs).filter(user_id__in=ids).values_list("user_id", flat=True))
    ) if orgs and ids else set()
    shared.add(viewer.id)
    users = await ctx.loaders.user.load_many([i for i in ids if i in shared])
    return {str(user.id): user for user in users if user is not None}
