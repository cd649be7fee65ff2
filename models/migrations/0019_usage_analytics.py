from tortoise import migrations
from tortoise.migrations import operations as ops
from models.usage import ClientEventKind, ClientKind, DeviceClass
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0018_encrypt_more')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ClientEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='client_events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='PAGE_VIEW: page_view\nCLIENT_ERROR: client_error', enum_type=ClientEventKind, max_length=16)),
                ('page', fields.CharField(max_length=200)),
                ('device_class', fields.CharEnumField(description='DESKTOP: desktop\nMOBILE: mobile\nTABLET: tablet\nOTHER: other', enum_type=DeviceClass, max_length=16)),
                ('browser', fields.CharField(default='', max_length=32)),
                ('app_version', fields.CharField(default='', max_length=32)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('day', fields.DateField()),
            ],
            options={'table': 'client_events', 'app': 'relleks', 'indexes': [Index(fields=['organization_id', 'day', 'kind']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': "A page view or client error reported by a person's first-party client, without the"},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='UsageDay',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='usage_days', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('client_kind', fields.CharEnumField(description='PERSON: person\nAPI_TOKEN: api_token\nPARTNER_APP: partner_app', enum_type=ClientKind, max_length=16)),
                ('client_id', fields.CharField(default='', max_length=36)),
                ('requests', fields.IntField(default=0)),
                ('errors', fields.IntField(default=0)),
                ('cost', fields.BigIntField(default=0)),
            ],
            options={'table': 'usage_days', 'app': 'relleks', 'unique_together': (('organization_id', 'day', 'client_kind', 'client_id'),), 'indexes': [Index(fields=['day'])], 'pk_attr': 'id', 'table_description': 'Requests, errors and query cost of one client of an organization on one UTC day.'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='UsageOperationDay',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='usage_operation_days', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('operation', fields.CharField(max_length=100)),
                ('requests', fields.IntField(default=0)),
                ('errors', fields.IntField(default=0)),
            ],
            options={'table': 'usage_operation_days', 'app': 'relleks', 'unique_together': (('organization_id', 'day', 'operation'),), 'indexes': [Index(fields=['day'])], 'pk_attr': 'id', 'table_description': 'Requests and errors of one operation name in an organization on one UTC day.'},
            bases=['TenantModel'],
        ),
    ]
