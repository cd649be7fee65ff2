from tortoise import migrations
from tortoise.migrations import operations as ops
from models.leads import LeadSource, LeadStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0002_organizations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Lead',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='leads', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('company', fields.CharField(null=True, max_length=200)),
                ('title', fields.CharField(null=True, max_length=200)),
                ('address_line1', fields.CharField(null=True, max_length=200)),
                ('address_line2', fields.CharField(null=True, max_length=200)),
                ('address_city', fields.CharField(null=True, max_length=100)),
                ('address_region', fields.CharField(null=True, max_length=100)),
                ('address_postal_code', fields.CharField(null=True, max_length=20)),
                ('address_country', fields.CharField(null=True, max_length=2)),
                ('status', fields.CharEnumField(default=LeadStatus.NEW, description='NEW: new\nCONTACTED: contacted\nQUALIFIED: qualified\nWON: won\nLOST: lost', enum_type=LeadStatus, max_length=16)),
                ('source', fields.CharEnumField(default=LeadSource.MANUAL, description='MANUAL: manual\nFORM: form\nAPI: api\nIMPORT: import', enum_type=LeadSource, max_length=16)),
                ('owner', fields.ForeignKeyField('relleks.User', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='owned_leads', on_delete=OnDelete.SET_NULL)),
                ('tags', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'leads', 'app': 'relleks', 'indexes': [Index(fields=['organization_id', 'created_at', 'id']), Index(fields=['organization_id', 'updated_at', 'id']), Index(fields=['organization_id', 'name', 'id']), Index(fields=['organization_id', 'owner_id'])], 'pk_attr': 'id', 'table_description': 'A prospect an organization works. Email is normalised, phone stored in E.164.'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='LeadTag',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='lead_tags', on_delete=OnDelete.CASCADE)),
                ('lead', fields.ForeignKeyField('relleks.Lead', source_field='lead_id', db_constraint=True, to_field='id', related_name='tag_rows', on_delete=OnDelete.CASCADE)),
                ('tag', fields.CharField(max_length=50)),
            ],
            options={'table': 'lead_tags', 'app': 'relleks', 'unique_together': (('lead', 'tag'),), 'indexes': [Index(fields=['organization_id', 'tag'])], 'pk_attr': 'id', 'table_description': 'One tag of one lead, kept beside `Lead.tags` so tag filters are plain indexed joins on'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='Note',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='notes', on_delete=OnDelete.CASCADE)),
                ('lead', fields.ForeignKeyField('relleks.Lead', source_field='lead_id', db_constraint=True, to_field='id', related_name='notes', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('relleks.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='notes', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('edited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notes', 'app': 'relleks', 'indexes': [Index(fields=['lead_id', 'created_at', 'id'])], 'pk_attr': 'id', 'table_description': 'A note on a lead, newest first.'},
            bases=['TenantModel'],
        ),
        ops.AddField(
            model_name='Organization',
            name='default_region',
            field=fields.CharField(default='US', db_default='US', max_length=2),
        ),
    ]
