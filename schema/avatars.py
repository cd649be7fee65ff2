"""Profile photos: upload (multipart), validation, re-encoding and removal."""

from __future__ import annotations

import strawberry


@strawberry.type
class AvatarMutations:
    @strawberry.mutation(description="Placeholder until avatars land.", deprecation_reason="x")
    def _placeholder_avatars(self) -> bool:
        return False
