from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index
from datetime import datetime, timedelta

RIGHTS = ('access', 'correction', 'deletion', 'restriction', 'objection', 'portability')
WINDOW = timedelta(days=30)


async def due_dates(apps, schema_editor):
    """Data-rights tickets opened before this migration get their deadline: 30 days after
    they were opened (`models.support.RIGHTS_WINDOW`)."""
    client = schema_editor.client
    marks = ", ".join(f"'{category}'" for category in RIGHTS)
    if client.capabilities.dialect != "sqlite":
        await client.execute_script(
            "UPDATE support_tickets SET due_at = created_at + interval '30 days' "
            f"WHERE due_at IS NULL AND category IN ({marks})")
        return
    _, rows = await client.execute_query(
        f"SELECT id, created_at FROM support_tickets WHERE due_at IS NULL AND category IN ({marks})")
    for row in rows:
        opened = row["created_at"]
        if isinstance(opened, str):
            opened = datetime.fromisoformat(opened)
        await client.execute_query("UPDATE support_tickets SET due_at = ? WHERE id = ?",
                                   [opened + WINDOW, row["id"]])


class Migration(migrations.Migration):
    dependencies = [('relleks', '0023_privacy_requests')]

    initial = False

    operations = [
        ops.AddField(
            model_name='SupportMessage',
            name='from_system',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='SupportTicket',
            name='closed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='SupportTicket',
            name='confirmed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='SupportTicket',
            name='due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='SupportTicket',
            name='work_id',
            field=fields.UUIDField(null=True),
        ),
        ops.AddIndex(
            model_name='SupportTicket',
            index=Index(fields=['due_at', 'updated_at', 'id']),
        ),
        ops.AddIndex(
            model_name='SupportTicket',
            index=Index(fields=['work_id']),
        ),
        ops.RunPython(due_dates, ops.RunPython.noop),
    ]
