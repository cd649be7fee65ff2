from tortoise import migrations
from tortoise.migrations import operations as ops
from models.idempotency import KeyStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0014_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IdempotencyKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('caller', fields.CharField(max_length=64)),
                ('key', fields.CharField(max_length=255)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='idempotency_keys', on_delete=OnDelete.CASCADE)),
                ('request_hash', fields.CharField(max_length=64)),
                ('claim', fields.UUIDField(default=uuid4)),
                ('status', fields.CharEnumField(default=KeyStatus.IN_PROGRESS, description='IN_PROGRESS: in_progress\nDONE: done', enum_type=KeyStatus, max_length=16)),
                ('response_status', fields.IntField(null=True)),
                ('response_type', fields.CharField(null=True, max_length=100)),
                ('response_body', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'idempotency_keys', 'app': 'relleks', 'unique_together': (('caller', 'key'),), 'indexes': [Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': "One caller's idempotency key, a hash of the request it came with and, once done, the"},
            bases=['BaseModel'],
        ),
    ]
