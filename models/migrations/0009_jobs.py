from tortoise import migrations
from tortoise.migrations import operations as ops
from models.jobs import WorkKind, WorkStatus
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0008_privacy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ScheduledWork',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('kind', fields.CharEnumField(description='USER_EXPORT: user_export\nORG_EXPORT: org_export\nACCOUNT_DELETION: account_deletion\nORG_DELETION: org_deletion', enum_type=WorkKind, max_length=24)),
                ('status', fields.CharEnumField(default=WorkStatus.PENDING, description='PENDING: pending\nRUNNING: running\nDONE: done\nFAILED: failed\nCANCELED: canceled', enum_type=WorkStatus, max_length=16)),
                ('user_id', fields.UUIDField(null=True)),
                ('organization_id', fields.UUIDField(null=True)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('dispatched_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('canceled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('archive_key', fields.CharField(null=True, max_length=255)),
                ('archive_size', fields.IntField(null=True)),
                ('download_token_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('downloaded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'scheduled_work', 'app': 'relleks', 'indexes': [Index(fields=['status', 'due_at']), Index(fields=['user_id', 'kind']), Index(fields=['organization_id', 'kind'])], 'pk_attr': 'id', 'table_description': 'One promised piece of work. `user_id` and `organization_id` are plain ids, not foreign'},
            bases=['BaseModel'],
        ),
    ]
