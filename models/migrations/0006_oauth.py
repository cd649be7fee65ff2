from tortoise import migrations
from tortoise.migrations import operations as ops
from models.oauth import TokenKind
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0005_api_tokens')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OAuthApp',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('owner', fields.ForeignKeyField('relleks.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='oauth_apps', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('client_id', fields.CharField(unique=True, max_length=64)),
                ('client_secret_hash', fields.CharField(max_length=64)),
                ('secret_prefix', fields.CharField(max_length=16)),
                ('redirect_uris', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('scopes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'oauth_apps', 'app': 'relleks', 'indexes': [Index(fields=['owner_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A partner app registered by a person, with the redirect URIs and scopes it may use.'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='OAuthGrant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='oauth_grants', on_delete=OnDelete.CASCADE)),
                ('app', fields.ForeignKeyField('relleks.OAuthApp', source_field='app_id', db_constraint=True, to_field='id', related_name='grants', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('relleks.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='oauth_grants', on_delete=OnDelete.SET_NULL)),
                ('scopes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oauth_grants', 'app': 'relleks', 'indexes': [Index(fields=['organization_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "One organization's approval of one app, with the scopes approved. Its tokens work until"},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='OAuthCode',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='oauth_codes', on_delete=OnDelete.CASCADE)),
                ('app', fields.ForeignKeyField('relleks.OAuthApp', source_field='app_id', db_constraint=True, to_field='id', related_name='codes', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='oauth_codes', on_delete=OnDelete.CASCADE)),
                ('grant', fields.ForeignKeyField('relleks.OAuthGrant', source_field='grant_id', null=True, db_constraint=True, to_field='id', related_name='codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('redirect_uri', fields.CharField(max_length=2000)),
                ('scopes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('code_challenge', fields.CharField(max_length=128)),
                ('code_challenge_method', fields.CharField(max_length=8)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oauth_codes', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'An authorization code: short-lived, single use, bound to its app, redirect URI and PKCE'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='OAuthToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='oauth_tokens', on_delete=OnDelete.CASCADE)),
                ('grant', fields.ForeignKeyField('relleks.OAuthGrant', source_field='grant_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='ACCESS: access\nREFRESH: refresh', enum_type=TokenKind, max_length=8)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oauth_tokens', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'An access or refresh token issued under a grant. A refresh token is used once'},
            bases=['TenantModel'],
        ),
        ops.AddField(
            model_name='ActivityEvent',
            name='oauth_grant',
            field=fields.ForeignKeyField('relleks.OAuthGrant', source_field='oauth_grant_id', null=True, db_constraint=True, to_field='id', related_name='activity', on_delete=OnDelete.SET_NULL),
        ),
    ]
