from tortoise import migrations
from tortoise.migrations import operations as ops
from keystore.fields import EncryptedJSONField, EncryptedTextField
from orjson import loads
from tortoise.fields.data import JSON_DUMPS


class AlterFieldOnPostgres(ops.AlterField):
    """An AlterField run on PostgreSQL only (as in 0017_field_encryption): on SQLite column
    types are advisory, while Tortoise's SQLite AlterField rebuilds the table (cascading)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_backward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('relleks', '0017_field_encryption')]

    initial = False

    operations = [
        AlterFieldOnPostgres(
            model_name='AiGeneration',
            name='output_json',
            field=EncryptedJSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
        AlterFieldOnPostgres(
            model_name='AiGeneration',
            name='output_text',
            field=EncryptedTextField(default='', unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='AiGeneration',
            name='purpose',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='ConsentReceipt',
            name='consent_text',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='ConsentReceipt',
            name='email',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='FormSubmission',
            name='email',
            field=EncryptedTextField(null=True, unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='FormSubmission',
            name='values',
            field=EncryptedJSONField(default=dict, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
