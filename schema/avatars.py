"""Profile photos in the API: `uploadAvatar` (a GraphQL multipart request) and `removeAvatar`.

The checks and the re-encoding live in `resolvers/avatars.py`; this module declares and delegates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from engine.fields import Info
from engine.permissions import IsAuthenticated, requires
from resolvers import avatars as resolvers

if TYPE_CHECKING:
    from schema.accounts import MeBase as Me  # the composed `Me`, as type checkers see it

MAX_MB = resolvers.MAX_AVATAR_BYTES // (1024 * 1024)
MAX_MP = resolvers.MAX_AVATAR_PIXELS // 1_000_000
MAX_JPEG_MP = resolvers.MAX_JPEG_PIXELS // 1_000_000
WIDTH, HEIGHT = resolvers.AVATAR_SIZE


@strawberry.input(description="The photo to upload (a GraphQL multipart request).")
class UploadAvatarInput:
    file: Upload = strawberry.field(
        description=f"The image file: PNG, JPEG or WebP, at most {MAX_MB} MB. Its name and "
                    "declared content type are ignored: the content decides. In the multipart "
                    "request's `map`, its part goes to `variables.input.file`.")


@strawberry.type(description="The result of `uploadAvatar`.")
class UploadAvatarPayload:
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
        description="Your account, with its new `avatarUrl`.")


@strawberry.type(description="The result of `removeAvatar`.")
class RemoveAvatarPayload:
    deleted_id: strawberry.ID = strawberry.field(
        description="The id of the account whose photo was removed, `user.id` (a photo has no "
                    "id of its own).")
    user: Annotated[Me, strawberry.lazy("schema.composition")] = strawberry.field(
        description="Your account, its `avatarUrl` now null.")


@strawberry.type
class AvatarMutations:
    @strawberry.mutation(
        description="Set the viewer's profile photo. Send a GraphQL multipart request "
                    "(operations, map, then the file; the map sends the file to "
                    "`variables.input.file`). Accepts a PNG, JPEG or WebP image of up to "
                    f"{MAX_MB} MB and {MAX_MP} megapixels ({MAX_JPEG_MP} for a JPEG: larger ones "
                    "are refused from their header, undecoded); it is center-cropped and "
                    f"re-encoded to a {WIDTH}x{HEIGHT} WebP "
                    "without its metadata (EXIF, GPS position), and replaces any previous photo.",
        extensions=[requires(IsAuthenticated())],
    )
    async def upload_avatar(self, info: Info, input: UploadAvatarInput) -> UploadAvatarPayload:
        return UploadAvatarPayload(
            user=cast("Me", await resolvers.upload_avatar(info.context, input.file)))

    @strawberry.mutation(
        description="Remove the viewer's profile photo and delete its file. Does nothing when "
                    "there is none.",
        extensions=[requires(IsAuthenticated())],
    )
    async def remove_avatar(self, info: Info) -> RemoveAvatarPayload:
        user = await resolvers.remove_avatar(info.context)
        return RemoveAvatarPayload(deleted_id=strawberry.ID(relay.to_base64("User", str(user.id))),
                                   user=cast("Me", user))
