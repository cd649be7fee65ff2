from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0021_support')]

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
    ]
