from tortoise import migrations
from tortoise.migrations import operations as ops
from models.billing import BillingInterval, InvoiceStatus, Plan, SubscriptionStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0003_leads')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BillingAccount',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.OneToOneField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='billing_account', on_delete=OnDelete.CASCADE)),
                ('stripe_customer_id', fields.CharField(null=True, unique=True, max_length=255)),
                ('stripe_subscription_id', fields.CharField(null=True, max_length=255)),
                ('subscription_plan', fields.CharEnumField(null=True, description='FREE: free\nPRO: pro\nBUSINESS: business', enum_type=Plan, max_length=16)),
                ('interval', fields.CharEnumField(null=True, description='MONTH: month\nYEAR: year', enum_type=BillingInterval, max_length=8)),
                ('status', fields.CharEnumField(default=SubscriptionStatus.NONE, description='NONE: none\nINCOMPLETE: incomplete\nINCOMPLETE_EXPIRED: incomplete_expired\nTRIALING: trialing\nACTIVE: active\nPAST_DUE: past_due\nUNPAID: unpaid\nPAUSED: paused\nCANCELED: canceled', enum_type=SubscriptionStatus, max_length=24)),
                ('current_period_end', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancel_at_period_end', fields.BooleanField(default=False)),
                ('trial_ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('state_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'billing_accounts', 'app': 'relleks', 'pk_attr': 'id', 'table_description': "One organization's Stripe customer and the state of its subscription as Stripe last told"},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='Invoice',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='invoices', on_delete=OnDelete.CASCADE)),
                ('stripe_invoice_id', fields.CharField(unique=True, max_length=255)),
                ('stripe_subscription_id', fields.CharField(null=True, max_length=255)),
                ('number', fields.CharField(null=True, max_length=64)),
                ('amount_due', fields.BigIntField(default=0)),
                ('amount_paid', fields.BigIntField(default=0)),
                ('currency', fields.CharField(max_length=3)),
                ('status', fields.CharEnumField(description='DRAFT: draft\nOPEN: open\nPAID: paid\nVOID: void\nUNCOLLECTIBLE: uncollectible', enum_type=InvoiceStatus, max_length=16)),
                ('hosted_invoice_url', fields.CharField(null=True, max_length=2048)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('state_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'billing_invoices', 'app': 'relleks', 'indexes': [Index(fields=['organization_id', 'issued_at'])], 'pk_attr': 'id', 'table_description': 'A Stripe invoice of an organization, as the last event about it described it. Amounts'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='StripeEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('event_id', fields.CharField(unique=True, max_length=255)),
                ('type', fields.CharField(max_length=128)),
                ('stripe_created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('organization_id', fields.UUIDField(null=True)),
                ('outcome', fields.CharField(default='applied', max_length=16)),
            ],
            options={'table': 'stripe_events', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A Stripe event id already processed, kept so that a replayed delivery is acknowledged'},
            bases=['BaseModel'],
        ),
    ]
