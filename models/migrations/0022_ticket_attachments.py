from tortoise import migrations
from tortoise.migrations import operations as ops
from keystore.fields import EncryptedTextField
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index


class AlterFieldOnPostgres(ops.AlterField):
    """An AlterField run on PostgreSQL only (as in 0018_encrypt_more): on SQLite column types
    are advisory, while Tortoise's SQLite AlterField rebuilds the table (cascading to its
    children: a ticket's messages, grants and attachments)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_backward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('relleks', '0021_support')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SupportAttachment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('message', fields.ForeignKeyField('relleks.SupportMessage', source_field='message_id', db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.CASCADE)),
                ('ticket', fields.ForeignKeyField('relleks.SupportTicket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.CASCADE)),
                ('requester_id', fields.UUIDField()),
                ('filename', EncryptedTextField(unique=False)),
                ('content_type', fields.CharField(max_length=64)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('position', fields.SmallIntField(default=0)),
                ('storage_key', fields.CharField(unique=True, max_length=200)),
            ],
            options={'table': 'support_attachments', 'app': 'relleks', 'indexes': [Index(fields=['message_id', 'position']), Index(fields=['ticket_id'])], 'pk_attr': 'id', 'table_description': 'A file attached to a support message: its name as sent (encrypted), the type sniffed'},
            bases=['Encrypted', 'BaseModel'],
        ),
        AlterFieldOnPostgres(
            model_name='SupportMessage',
            name='body',
            field=EncryptedTextField(unique=False),
        ),
        AlterFieldOnPostgres(
            model_name='SupportMessage',
            name='body_html',
            field=EncryptedTextField(unique=False),
        ),
        ops.AddField(
            model_name='SupportMessage',
            name='requester_id',
            field=fields.UUIDField(null=True),
        ),
        AlterFieldOnPostgres(
            model_name='SupportTicket',
            name='subject',
            field=EncryptedTextField(unique=False),
        ),
        ops.AddField(
            model_name='SupportTicket',
            name='resolved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
