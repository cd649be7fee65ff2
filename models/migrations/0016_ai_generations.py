from tortoise import migrations
from tortoise.migrations import operations as ops
from models.ai import AiFeature, AiStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0015_idempotency_keys')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AiGeneration',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='ai_generations', on_delete=OnDelete.CASCADE)),
                ('lead', fields.ForeignKeyField('relleks.Lead', source_field='lead_id', db_constraint=True, to_field='id', related_name='ai_generations', on_delete=OnDelete.CASCADE)),
                ('requested_by', fields.ForeignKeyField('relleks.User', source_field='requested_by_id', null=True, db_constraint=True, to_field='id', related_name='ai_generations', on_delete=OnDelete.SET_NULL)),
                ('api_token_id', fields.UUIDField(null=True)),
                ('feature', fields.CharEnumField(description='SUMMARY: summary\nNEXT_STEPS: next_steps\nDRAFT_EMAIL: draft_email', enum_type=AiFeature, max_length=16)),
                ('status', fields.CharEnumField(default=AiStatus.PENDING, description='PENDING: pending\nSTREAMING: streaming\nSUCCEEDED: succeeded\nFAILED: failed', enum_type=AiStatus, max_length=16)),
                ('purpose', fields.TextField(null=True, unique=False)),
                ('output_text', fields.TextField(default='', unique=False)),
                ('output_json', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('error_code', fields.CharField(null=True, max_length=32)),
                ('error_message', fields.CharField(null=True, max_length=300)),
                ('provider', fields.CharField(default='', max_length=32)),
                ('model', fields.CharField(default='', max_length=100)),
                ('prompt_version', fields.CharField(default='', max_length=32)),
                ('input_hash', fields.CharField(default='', max_length=64)),
                ('data_manifest', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('input_tokens', fields.IntField(default=0)),
                ('output_tokens', fields.IntField(default=0)),
                ('credits_charged', fields.IntField(default=0)),
                ('latency_ms', fields.IntField(null=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ai_generations', 'app': 'relleks', 'indexes': [Index(fields=['lead_id', 'created_at', 'id']), Index(fields=['organization_id', 'created_at', 'id']), Index(fields=['status', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One call of an AI feature about one lead, its output and its provenance.'},
            bases=['TenantModel'],
        ),
        ops.AddField(
            model_name='Organization',
            name='ai_enabled',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
