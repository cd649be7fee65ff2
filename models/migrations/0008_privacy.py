from tortoise import migrations
from tortoise.migrations import operations as ops
from models.consents import ConsentKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0007_social')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Consent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='consents', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='AI_TRAINING: ai_training\nPRODUCT_EMAILS: product_emails', enum_type=ConsentKind, max_length=32)),
                ('granted', fields.BooleanField()),
                ('policy_version', fields.CharField(max_length=32)),
            ],
            options={'table': 'consents', 'app': 'relleks', 'indexes': [Index(fields=['user_id', 'kind', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One change of one consent of one user: granted or withdrawn at `created_at`, under the'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='PolicyAcceptance',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='policy_acceptances', on_delete=OnDelete.CASCADE)),
                ('version', fields.CharField(max_length=32)),
            ],
            options={'table': 'policy_acceptances', 'app': 'relleks', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A user accepted one version of the terms and privacy policy at `created_at` (at sign-up'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='PolicyNotice',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='policy_notices', on_delete=OnDelete.CASCADE)),
                ('version', fields.CharField(max_length=32)),
                ('claimed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'policy_notices', 'app': 'relleks', 'unique_together': (('user', 'version'),), 'pk_attr': 'id', 'table_description': 'The email telling a user about a new policy version: one row per user and version, so'},
            bases=['BaseModel'],
        ),
        ops.AddField(
            model_name='Lead',
            name='restricted',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='restricted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
