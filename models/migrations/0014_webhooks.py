from tortoise import migrations
from tortoise.migrations import operations as ops
from models.webhooks import AttemptError, DisabledReason, MessageStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('relleks', '0013_custom_domains')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('relleks.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.SET_NULL)),
                ('url', fields.CharField(max_length=2048)),
                ('description', fields.CharField(default='', max_length=500)),
                ('event_types', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.CharEnumField(null=True, description='MANUAL: manual\nGONE: gone\nFAILING: failing', enum_type=DisabledReason, max_length=16)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('secret_sealed', fields.TextField(unique=False)),
                ('previous_secret_sealed', fields.TextField(null=True, unique=False)),
                ('previous_secret_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_endpoints', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A URL of one organization to which its events are posted, signed with its secret (and'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='WebhookMessage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='webhook_messages', on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.ForeignKeyField('relleks.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('event_type', fields.CharField(max_length=64)),
                ('payload', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=MessageStatus.PENDING, description='PENDING: pending\nDELIVERED: delivered\nFAILED: failed', enum_type=MessageStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('dispatched_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_messages', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'One event for one endpoint: its thin payload (type, global ids, time, changed field'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='webhook_attempts', on_delete=OnDelete.CASCADE)),
                ('message', fields.ForeignKeyField('relleks.WebhookMessage', source_field='message_id', db_constraint=True, to_field='id', related_name='delivery_attempts', on_delete=OnDelete.CASCADE)),
                ('status_code', fields.IntField(null=True)),
                ('latency_ms', fields.IntField(default=0)),
                ('response_excerpt', fields.CharField(default='', max_length=1024)),
                ('error', fields.CharEnumField(null=True, description='STATUS: status\nTIMEOUT: timeout\nCONNECTION: connection\nREFUSED_TARGET: refused_target', enum_type=AttemptError, max_length=16)),
                ('success', fields.BooleanField(default=False)),
            ],
            options={'table': 'webhook_attempts', 'app': 'relleks', 'pk_attr': 'id', 'table_description': "One try at delivering a message: when, the answer's status, how long it took, the first"},
            bases=['TenantModel'],
        ),
    ]
