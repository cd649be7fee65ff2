from tortoise import migrations
from tortoise.migrations import operations as ops
from models.forms import FormStatus, SubmissionStatus, new_public_id
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0011_sign_up_requests')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LeadForm',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='lead_forms', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('relleks.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='lead_forms', on_delete=OnDelete.SET_NULL)),
                ('public_id', fields.CharField(default=new_public_id, unique=True, max_length=32)),
                ('name', fields.CharField(max_length=100)),
                ('fields_asked', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('allowed_origins', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('consent_text', fields.TextField(null=True, unique=False)),
                ('consent_required', fields.BooleanField(default=False)),
                ('double_opt_in', fields.BooleanField(default=False)),
                ('success_message', fields.TextField(null=True, unique=False)),
                ('redirect_url', fields.CharField(null=True, max_length=2048)),
                ('page_title', fields.CharField(null=True, max_length=200)),
                ('page_intro', fields.TextField(null=True, unique=False)),
                ('logo_url', fields.CharField(null=True, max_length=2048)),
                ('accent_color', fields.CharField(null=True, max_length=7)),
                ('status', fields.CharEnumField(default=FormStatus.ACTIVE, description='ACTIVE: active\nPAUSED: paused', enum_type=FormStatus, max_length=16)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'lead_forms', 'app': 'relleks', 'indexes': [Index(fields=['organization_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A public form whose submissions become leads of its organization.'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='FormSubmission',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='form_submissions', on_delete=OnDelete.CASCADE)),
                ('form', fields.ForeignKeyField('relleks.LeadForm', source_field='form_id', db_constraint=True, to_field='id', related_name='submissions', on_delete=OnDelete.CASCADE)),
                ('values', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('status', fields.CharEnumField(description='ACCEPTED: accepted\nHELD: held\nSPAM: spam\nPENDING: pending\nDISCARDED: discarded', enum_type=SubmissionStatus, max_length=16)),
                ('signals', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('origin', fields.CharField(null=True, max_length=255)),
                ('user_agent', fields.CharField(null=True, max_length=512)),
                ('ip_hash', fields.CharField(null=True, max_length=64)),
                ('consent_given', fields.BooleanField(default=False)),
                ('consent_text', fields.TextField(null=True, unique=False)),
                ('lead', fields.ForeignKeyField('relleks.Lead', source_field='lead_id', null=True, db_constraint=True, to_field='id', related_name='form_submissions', on_delete=OnDelete.SET_NULL)),
                ('confirm_token_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('confirm_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('confirm_ip_hash', fields.CharField(null=True, max_length=64)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'form_submissions', 'app': 'relleks', 'indexes': [Index(fields=['form_id', 'created_at']), Index(fields=['organization_id', 'email']), Index(fields=['organization_id', 'status', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One submission of a form, whatever became of it (see `SubmissionStatus`).'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='ConsentReceipt',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='consent_receipts', on_delete=OnDelete.CASCADE)),
                ('lead', fields.ForeignKeyField('relleks.Lead', source_field='lead_id', null=True, db_constraint=True, to_field='id', related_name='consent_receipts', on_delete=OnDelete.CASCADE)),
                ('submission', fields.ForeignKeyField('relleks.FormSubmission', source_field='submission_id', null=True, db_constraint=True, to_field='id', related_name='receipts', on_delete=OnDelete.SET_NULL)),
                ('form', fields.ForeignKeyField('relleks.LeadForm', source_field='form_id', null=True, db_constraint=True, to_field='id', related_name='receipts', on_delete=OnDelete.SET_NULL)),
                ('form_name', fields.CharField(max_length=100)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('consent_text', fields.TextField(null=True, unique=False)),
                ('consent_text_sha256', fields.CharField(null=True, max_length=64)),
                ('consent_given', fields.BooleanField(default=False)),
                ('policy_version', fields.CharField(max_length=32)),
                ('submitted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('origin', fields.CharField(null=True, max_length=255)),
                ('user_agent', fields.CharField(null=True, max_length=512)),
                ('ip_hash', fields.CharField(null=True, max_length=64)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('confirm_ip_hash', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'consent_receipts', 'app': 'relleks', 'indexes': [Index(fields=['lead_id', 'created_at']), Index(fields=['organization_id', 'email'])], 'pk_attr': 'id', 'table_description': 'The proof of one consent given through a form: the exact text shown and its SHA-256,'},
            bases=['TenantModel'],
        ),
        ops.AddField(
            model_name='ActivityEvent',
            name='form',
            field=fields.ForeignKeyField('relleks.LeadForm', source_field='form_id', null=True, db_constraint=True, to_field='id', related_name='activity', on_delete=OnDelete.SET_NULL),
        ),
    ]
