"""`rotateOrganizationKey`: a new data encryption key for the organization (docs/encryption.md);
the logic is in resolvers/encryption.py."""

from __future__ import annotations

import strawberry
from strawberry import relay

from auth.permissions import Permission
from engine.fields import Info, decode_id
from engine.permissions import HasPermission, IsAuthenticated, org_from_argument, requires
from resolvers import encryption as resolvers
from schema.exports import WorkStatus, status_of


@strawberry.input(description="The organization whose data key to rotate.")
class RotateOrganizationKeyInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")


@strawberry.type(description="The result of `rotateOrganizationKey`.")
class RotateOrganizationKeyPayload:
    key_version: int = strawberry.field(
        description="The version of the new ACTIVE key; the previous one is RETIRED (it "
                    "decrypts what it encrypted until the re-encryption is done).")
    reencryption: WorkStatus = strawberry.field(
        description="Where the background re-encryption of the organization's data under the "
                    "new key stands (PENDING, RUNNING, DONE, FAILED).")


@strawberry.type
class EncryptionMutations:
    @strawberry.mutation(
        description="Rotate the organization's data encryption key (`org:keys`, OWNER, a "
                    "person): a new key encrypts from now on and the organization's data is "
                    "re-encrypted under it in the background. One rotation at a time "
                    "(CONFLICT while the previous one is re-encrypting).",
        extensions=[requires(HasPermission(Permission.ORG_KEYS,
                                           org=org_from_argument("input.organization_id")),
                             IsAuthenticated())])
    async def rotate_organization_key(self, info: Info, input: RotateOrganizationKeyInput
                                      ) -> RotateOrganizationKeyPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        version, work = await resolvers.rotate_organization_key(info.context, org_id)
        return RotateOrganizationKeyPayload(key_version=version, reencryption=status_of(work))
