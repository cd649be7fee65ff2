from tortoise import migrations
from tortoise.migrations import operations as ops
from keystore.models import KeyState
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='DataKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('organization_id', fields.UUIDField()),
                ('version', fields.IntField()),
                ('state', fields.CharEnumField(default=KeyState.ACTIVE, description='ACTIVE: active\nRETIRED: retired\nDESTROYED: destroyed', enum_type=KeyState, max_length=16)),
                ('wrapped', fields.BinaryField(null=True)),
                ('kek_id', fields.CharField(max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('destroyed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'data_keys', 'app': 'keystore', 'unique_together': (('organization_id', 'version'),), 'pk_attr': 'id', 'table_description': "One version of an organization's data key (256 bits, AES-GCM), wrapped by a KEK."},
            bases=['Model'],
        ),
    ]
