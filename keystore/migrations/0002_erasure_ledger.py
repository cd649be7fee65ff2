from tortoise import migrations
from tortoise.migrations import operations as ops
from keystore.ledger import ErasureKind
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('keystore', '0001_data_keys')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ErasureLedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='ACCOUNT: account\nDATA_SUBJECT: data_subject\nORGANIZATION: organization', enum_type=ErasureKind, max_length=16)),
                ('org_id', fields.UUIDField(null=True)),
                ('subject_hash', fields.CharField(null=True, max_length=64)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'erasure_ledger', 'app': 'keystore', 'pk_attr': 'id', 'table_description': 'One erasure, in the order they were appended.'},
            bases=['Model'],
        ),
    ]
