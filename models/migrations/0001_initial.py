from tortoise import migrations
from tortoise.migrations import operations as ops
from models.accounts import TokenPurpose
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('email', fields.CharField(unique=True, max_length=320)),
                ('email_verified', fields.BooleanField(default=False)),
                ('name', fields.CharField(max_length=200)),
                ('password_hash', fields.CharField(max_length=255)),
                ('avatar_key', fields.CharField(null=True, max_length=255)),
                ('age_check_passed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('terms_version', fields.CharField(max_length=32)),
                ('terms_accepted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A person with a Relleks login. The email is stored lower-cased, so it is unique'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='EmailToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='email_tokens', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharEnumField(description='VERIFY_EMAIL: verify_email\nRESET_PASSWORD: reset_password', enum_type=TokenPurpose, max_length=32)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'email_tokens', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A single-use, expiring token sent by email, stored as a SHA-256 hash.'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('last_used_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ip', fields.CharField(null=True, max_length=64)),
                ('user_agent', fields.CharField(null=True, max_length=512)),
            ],
            options={'table': 'sessions', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'One signed-in device. Access tokens name it (`sid`), so ending it ends them too.'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('session', fields.ForeignKeyField('relleks.Session', source_field='session_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_tokens', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A refresh token of a session, stored as a SHA-256 hash. Each is used once: a second use'},
            bases=['BaseModel'],
        ),
    ]
