from tortoise import migrations
from tortoise.migrations import operations as ops
from keystore.fields import BlindIndexField, EncryptedTextField
from models.jobs import WorkKind
from tortoise import fields
from tortoise.indexes import Index

class AlterFieldOnPostgres(ops.AlterField):
    """An AlterField run on PostgreSQL only (ALTER COLUMN ... TYPE, in place). On SQLite, column
    types are advisory and these changes (VARCHAR to TEXT, descriptions) change nothing, while
    Tortoise's SQLite AlterField rebuilds the table: dropping the old `leads` would cascade to
    its notes and tags (and `webhook_endpoints` to its messages)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_backward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('relleks', '0016_ai_generations')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='FormSubmission',
            options={'table': 'form_submissions', 'app': 'relleks', 'indexes': [Index(fields=['form_id', 'created_at']), Index(fields=['organization_id', 'email']), Index(fields=['organization_id', 'status', 'created_at'])], 'pk_attr': 'id', 'table_description': "One submission of a form, whatever became of it (see `SubmissionStatus`). Its email's"},
        ),
        ops.AddField(
            model_name='FormSubmission',
            name='email_bidx',
            field=BlindIndexField(null=True, source='email', kind='email'),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='address_city',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='address_country',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='address_line1',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='address_line2',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='address_postal_code',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='address_region',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='email',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='Lead',
            name='phone',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='email_bidx',
            field=BlindIndexField(null=True, source='email', kind='email'),
        ),
        ops.AddField(
            model_name='Lead',
            name='phone_bidx',
            field=BlindIndexField(null=True, source='phone', kind='phone'),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['organization_id', 'email_bidx']),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['organization_id', 'phone_bidx']),
        ),
        ops.AlterModelOptions(
            name='Note',
            options={'table': 'notes', 'app': 'relleks', 'indexes': [Index(fields=['lead_id', 'created_at', 'id'])], 'pk_attr': 'id', 'table_description': "A note on a lead, newest first. Its body is encrypted under the org's data key."},
        ),
        AlterFieldOnPostgres(
            model_name='Note',
            name='body',
            field=EncryptedTextField(unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='ScheduledWork',
            name='kind',
            field=fields.CharEnumField(description='USER_EXPORT: user_export\nORG_EXPORT: org_export\nACCOUNT_DELETION: account_deletion\nORG_DELETION: org_deletion\nKEY_ROTATION: key_rotation', enum_type=WorkKind, max_length=24),
        ),
        ops.AddField(
            model_name='ConsentReceipt',
            name='email_bidx',
            field=BlindIndexField(null=True, source='email', kind='email'),
        ),
        AlterFieldOnPostgres(
            model_name='WebhookEndpoint',
            name='previous_secret_sealed',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='WebhookEndpoint',
            name='secret_sealed',
            field=EncryptedTextField(unique=False),
        ),
    ]
