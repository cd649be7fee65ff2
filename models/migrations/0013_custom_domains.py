from tortoise import migrations
from tortoise.migrations import operations as ops
from models.custom_domains import CheckVerdict, DomainStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0012_lead_forms')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CustomDomain',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='custom_domains', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('relleks.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='custom_domains', on_delete=OnDelete.SET_NULL)),
                ('hostname', fields.CharField(db_index=True, max_length=253)),
                ('served_hostname', fields.CharField(null=True, unique=True, max_length=253)),
                ('verification_token', fields.CharField(max_length=64)),
                ('status', fields.CharEnumField(default=DomainStatus.PENDING, description='PENDING: pending\nVERIFIED: verified\nFAILED: failed\nLAPSED: lapsed', enum_type=DomainStatus, max_length=16)),
                ('pending_since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('pending_checks', fields.IntField(default=0)),
                ('next_check_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lapsed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('checked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('verdict', fields.CharEnumField(null=True, description='VERIFIED: verified\nTOKEN_MISSING: token_missing\nTOKEN_MISMATCH: token_mismatch\nTARGET_MISSING: target_missing\nTARGET_MISMATCH: target_mismatch\nDNS_ERROR: dns_error\nCLAIMED_ELSEWHERE: claimed_elsewhere', enum_type=CheckVerdict, max_length=24)),
                ('expected_records', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('observed_records', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('resolver', fields.CharField(null=True, max_length=255)),
            ],
            options={'table': 'custom_domains', 'app': 'relleks', 'unique_together': (('organization_id', 'hostname'),), 'indexes': [Index(fields=['status', 'next_check_at']), Index(fields=['organization_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A hostname of one organization, its proof token, its status and its last check'},
            bases=['TenantModel'],
        ),
    ]
