"""Print the README's permission matrix, generated from the code that enforces it.

    python -m scripts.permission_matrix

`auth/permissions.py` (ROLE_GRANTS, DESCRIPTIONS) is the one source: the README table is pasted
from this output, and tests/orgs/test_permission_matrix.py walks the same grants over HTTP, so
the table, the code and the test cannot drift apart.
"""

from __future__ import annotations

from auth.permissions import DESCRIPTIONS, ROLE_GRANTS, Permission
from models.orgs import Role

GRANTED, DENIED = "✓", "—"


def render() -> str:
    """The matrix as a Markdown table: one row per permission, one column per role."""
    roles = sorted(Role, key=lambda role: role.rank, reverse=True)
    lines = [
        "| Permission | What it allows | " + " | ".join(role.name for role in roles) + " |",
        "| --- | --- | " + " | ".join(":---:" for _ in roles) + " |",
    ]
    for permission in Permission:
        cells = (GRANTED if permission in ROLE_GRANTS[role] else DENIED for role in roles)
        lines.append(f"| `{permission.value}` | {DESCRIPTIONS[permission]} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    print(render())


if __name__ == "__main__":
    main()
