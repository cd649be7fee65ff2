from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('relleks', '0010_renewal_stopped')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SignUpRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('email', fields.CharField(db_index=True, max_length=320)),
                ('name', fields.CharField(max_length=200)),
                ('password_hash', fields.CharField(max_length=255)),
                ('age_check_passed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('terms_version', fields.CharField(max_length=32)),
                ('terms_accepted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sign_up_requests', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A sign-up waiting for its address to be confirmed: what the form held (the password only'},
            bases=['BaseModel'],
        ),
    ]
