from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('relleks', '0009_jobs')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ScheduledWork',
            name='renewal_stopped',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
