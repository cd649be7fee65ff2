"""Email verification and password reset: single-use links sent by email."""

from __future__ import annotations

import strawberry


@strawberry.type
class AccountEmailMutations:
    @strawberry.mutation(description="Placeholder until email flows land.", deprecation_reason="x")
    def _placeholder_account_emails(self) -> bool:
        return False
