from tortoise import migrations
from tortoise.migrations import operations as ops
from keystore.fields import BlindIndexField, EncryptedTextField
from models.privacy_requests import PrivacyRequestKind, PrivacyRequestStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0022_ticket_attachments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PrivacyRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='privacy_requests', on_delete=OnDelete.CASCADE)),
                ('email', EncryptedTextField(unique=False)),
                ('email_bidx', BlindIndexField(null=True, source='email', kind='email')),
                ('kind', fields.CharEnumField(description='ACCESS: access\nERASURE: erasure', enum_type=PrivacyRequestKind, max_length=16)),
                ('message', EncryptedTextField(null=True, unique=False)),
                ('status', fields.CharEnumField(default=PrivacyRequestStatus.PENDING_VERIFICATION, description='PENDING_VERIFICATION: pending_verification\nOPEN: open\nCOMPLETED: completed\nREJECTED: rejected', enum_type=PrivacyRequestStatus, max_length=24)),
                ('verify_token_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('verify_expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ip_hash', fields.CharField(null=True, max_length=64)),
                ('verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reject_reason', EncryptedTextField(null=True, unique=False)),
                ('overdue_notified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('export_key', fields.CharField(null=True, max_length=128)),
                ('download_token_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('download_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'privacy_requests', 'app': 'relleks', 'indexes': [Index(fields=['organization_id', 'status', 'created_at']), Index(fields=['status', 'due_at'])], 'pk_attr': 'id', 'table_description': 'One request of a person to an organization about the data held on their email.'},
            bases=['Encrypted', 'TenantModel'],
        ),
    ]
