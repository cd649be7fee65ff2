from tortoise import migrations
from tortoise.migrations import operations as ops
from models.social import SocialProvider
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('relleks', '0006_oauth')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SocialIdentity',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='social_identities', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharEnumField(description='GOOGLE: google\nGITHUB: github', enum_type=SocialProvider, max_length=16)),
                ('subject', fields.CharField(max_length=255)),
                ('email', fields.CharField(max_length=320)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'social_identities', 'app': 'relleks', 'unique_together': (('provider', 'subject'), ('user_id', 'provider')), 'pk_attr': 'id', 'table_description': 'An account at a provider that signs in as a user, at most one per provider and user.'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='SocialLinkRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='social_link_requests', on_delete=OnDelete.CASCADE)),
                ('provider', fields.CharEnumField(description='GOOGLE: google\nGITHUB: github', enum_type=SocialProvider, max_length=16)),
                ('subject', fields.CharField(max_length=255)),
                ('email', fields.CharField(max_length=320)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('mail_token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'social_link_requests', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A provider identity whose verified email matches an existing user, waiting for that user'},
            bases=['BaseModel'],
        ),
        ops.AlterField(
            model_name='User',
            name='password_hash',
            field=fields.CharField(null=True, max_length=255),
        ),
    ]
