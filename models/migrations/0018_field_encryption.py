from tortoise import migrations
from tortoise.migrations import operations as ops
from keystore.fields import BlindIndexField, EncryptedTextField
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0015_idempotency_keys')]

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
        ops.AlterField(
            model_name='Lead',
            name='address_city',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AlterField(
            model_name='Lead',
            name='address_country',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AlterField(
            model_name='Lead',
            name='address_line1',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AlterField(
            model_name='Lead',
            name='address_line2',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AlterField(
            model_name='Lead',
            name='address_postal_code',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AlterField(
            model_name='Lead',
            name='address_region',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AlterField(
            model_name='Lead',
            name='email',
            field=EncryptedTextField(null=True, unique=False),
        ),
        ops.AlterField(
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
        ops.AlterField(
            model_name='Note',
            name='body',
            field=EncryptedTextField(unique=False),
        ),
    ]
