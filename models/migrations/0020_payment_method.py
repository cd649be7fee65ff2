from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('relleks', '0019_usage_analytics')]

    initial = False

    operations = [
        ops.AddField(
            model_name='BillingAccount',
            name='payment_brand',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='BillingAccount',
            name='payment_exp_month',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='BillingAccount',
            name='payment_exp_year',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='BillingAccount',
            name='payment_last4',
            field=fields.CharField(null=True, max_length=4),
        ),
        ops.AddField(
            model_name='BillingAccount',
            name='renewal_held_by',
            field=fields.UUIDField(null=True),
        ),
    ]
