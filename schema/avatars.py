"""Profile photos in the API: `uploadAvatar` (a GraphQL multipart request) and `removeAvatar`.

The checks and the re-encoding live in `resolvers/avatars.py`; this module declares and delegates.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from resolvers import avatars as resolvers
from schema.accounts import User
from schema.base import Info
from schema.permissions import IsAuthenticated, requires

MAX_MB = resolvers.MAX_AVATAR_BYTES // (1024 * 1024)
MAX_MP = resolvers.MAX_AVATAR_PIXELS // 1_000_000
MAX_JPEG_MP = resolvers.MAX_JPEG_PIXELS // 1_000_000
WIDTH, HEIGHT = resolvers.AVATAR_SIZE


@strawberry.type
class AvatarMutations:
    @strawberry.mutation(
        description="Set the viewer's profile photo. Send a GraphQL multipart request "
                    "(operations, map, then the file). Accepts a PNG, JPEG or WebP image of up to "
                    f"{MAX_MB} MB and {MAX_MP} megapixels ({MAX_JPEG_MP} for a JPEG: larger ones "
                    "are refused from their header, undecoded); it is center-cropped and "
                    f"re-encoded to a {WIDTH}x{HEIGHT} WebP "
                    "without its metadata (EXIF, GPS position), and replaces any previous photo.",
        extensions=[requires(IsAuthenticated())],
    )
    async def upload_avatar(
        self,
        info: Info,
        file: Annotated[Upload, strawberry.argument(
            description=f"The image file: PNG, JPEG or WebP, at most {MAX_MB} MB. Its name and "
                        "declared content type are ignored: the content decides.")],
    ) -> User:
        return await resolvers.upload_avatar(info.context, file)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Remove the viewer's profile photo and delete its file. Does nothing when "
                    "there is none.",
        extensions=[requires(IsAuthenticated())],
    )
    async def remove_avatar(self, info: Info) -> User:
        return await resolvers.remove_avatar(info.context)  # type: ignore[return-value]
