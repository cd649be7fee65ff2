from tortoise import migrations
from tortoise.migrations import operations as ops
from models.support import MessageFormat, TicketCategory, TicketStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('relleks', '0020_payment_method')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StaffMember',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('user', fields.OneToOneField('relleks.User', source_field='user_id', db_constraint=True, to_field='id', related_name='staff_role', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'staff_members', 'app': 'relleks', 'pk_attr': 'id', 'table_description': 'A Relleks staff member: a user who may read and answer every support ticket. Given and'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='SupportTicket',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('requester', fields.ForeignKeyField('relleks.User', source_field='requester_id', db_constraint=True, to_field='id', related_name='support_tickets', on_delete=OnDelete.CASCADE)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', null=True, db_constraint=True, to_field='id', related_name='support_tickets', on_delete=OnDelete.SET_NULL)),
                ('category', fields.CharEnumField(description='QUESTION: question\nBUG: bug\nBILLING: billing\nACCESS: access\nCORRECTION: correction\nDELETION: deletion\nRESTRICTION: restriction\nOBJECTION: objection\nPORTABILITY: portability', enum_type=TicketCategory, max_length=16)),
                ('subject', fields.CharField(max_length=200)),
                ('status', fields.CharEnumField(default=TicketStatus.OPEN, description='OPEN: open\nWAITING_ON_CUSTOMER: waiting_on_customer\nWAITING_ON_SUPPORT: waiting_on_support\nRESOLVED: resolved', enum_type=TicketStatus, max_length=24)),
                ('message_count', fields.IntField(default=0)),
                ('last_message_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'support_tickets', 'app': 'relleks', 'indexes': [Index(fields=['requester_id', 'created_at', 'id']), Index(fields=['status', 'updated_at', 'id'])], 'pk_attr': 'id', 'table_description': 'A request for help: its requester, optionally one of their organizations, its category,'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='SupportAccessGrant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='support_access_grants', on_delete=OnDelete.CASCADE)),
                ('ticket', fields.ForeignKeyField('relleks.SupportTicket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='access_grants', on_delete=OnDelete.CASCADE)),
                ('granted_by', fields.ForeignKeyField('relleks.User', source_field='granted_by_id', null=True, db_constraint=True, to_field='id', related_name='support_grants_given', on_delete=OnDelete.SET_NULL)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_by', fields.ForeignKeyField('relleks.User', source_field='revoked_by_id', null=True, db_constraint=True, to_field='id', related_name='support_grants_revoked', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'support_access_grants', 'app': 'relleks', 'indexes': [Index(fields=['organization_id', 'expires_at'])], 'pk_attr': 'id', 'table_description': 'Read access to an organization that its OWNER gave Relleks staff from a ticket, until'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='SupportAccessRead',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organization', fields.ForeignKeyField('relleks.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='support_access_reads', on_delete=OnDelete.CASCADE)),
                ('grant', fields.ForeignKeyField('relleks.SupportAccessGrant', source_field='grant_id', db_constraint=True, to_field='id', related_name='reads', on_delete=OnDelete.CASCADE)),
                ('staff_user', fields.ForeignKeyField('relleks.User', source_field='staff_user_id', null=True, db_constraint=True, to_field='id', related_name='support_reads', on_delete=OnDelete.SET_NULL)),
                ('field', fields.CharField(max_length=200)),
                ('path', fields.CharField(max_length=500)),
                ('operation', fields.CharField(default='', max_length=100)),
            ],
            options={'table': 'support_access_reads', 'app': 'relleks', 'indexes': [Index(fields=['grant_id', 'created_at', 'id'])], 'pk_attr': 'id', 'table_description': 'One read a staff member made under a grant: which field (`Type.field`) at which path of'},
            bases=['TenantModel'],
        ),
        ops.CreateModel(
            name='SupportMessage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('ticket', fields.ForeignKeyField('relleks.SupportTicket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('relleks.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='support_messages', on_delete=OnDelete.SET_NULL)),
                ('from_staff', fields.BooleanField(default=False)),
                ('format', fields.CharEnumField(default=MessageFormat.PLAIN, description='PLAIN: plain\nMARKDOWN: markdown', enum_type=MessageFormat, max_length=16)),
                ('body', fields.TextField(unique=False)),
                ('body_html', fields.TextField(unique=False)),
            ],
            options={'table': 'support_messages', 'app': 'relleks', 'indexes': [Index(fields=['ticket_id', 'created_at', 'id'])], 'pk_attr': 'id', 'table_description': 'One message of a ticket, by its requester or by staff: the body as written and, for'},
            bases=['BaseModel'],
        ),
    ]
