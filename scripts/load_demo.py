"""Load the demo data for `make run`; running it again changes nothing.

    python -m scripts.load_demo

Demo people (all with the password DEMO_PASSWORD), the org they share (one of each role), a
few hundred leads with notes, and one active lead form whose hosted page it prints
(`/f/demo-contact`, see docs/forms.md).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from random import Random

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from auth.passwords import hash_password
from core.settings import Settings
from database import init_database
from keystore.fields import prepare
from models.accounts import User
from models.forms import LeadForm
from models.leads import Lead, LeadSource, LeadStatus, LeadTag, Note
from models.orgs import Membership, Organization, Role

DEMO_PASSWORD = "demo-relleks-2026!"
DEMO_ORG_SLUG = "demo-co"
DEMO_FORM_ID = "demo-contact"
"""The demo form's public id: fixed, so the README can link its page (real ones are random)."""
DEMO_PEOPLE = (
    ("demo@example.com", "Dana Demo", Role.OWNER),
    ("admin@example.com", "Ari Admin", Role.ADMIN),
    ("member@example.com", "Mo Member", Role.MEMBER),
    ("viewer@example.com", "Val Viewer", Role.VIEWER),
)


async def load_demo(settings: Settings) -> None:
    await init_database(settings.database_url, keystore_url=settings.keystore_url,
                        pooler=settings.database_pooler)
    try:
        if await Organization.filter(slug=DEMO_ORG_SLUG).exists():
            print("demo data already there")
        else:
            await _create(settings)
        if not await LeadForm.by_public_id(DEMO_FORM_ID).exists():  # demo data made before it
            org = await Organization.get(slug=DEMO_ORG_SLUG)
            await _form(org, settings)
        print(f"demo organization `{DEMO_ORG_SLUG}`; sign in as any of these, password "
              f"{DEMO_PASSWORD!r}:")
        for email, _, role in DEMO_PEOPLE:
            print(f"  {role.name:<7} {email}")
        print(f"demo lead form: {settings.public_url.rstrip('/')}/f/{DEMO_FORM_ID}")
    finally:
        await Tortoise.close_connections()


async def _create(settings: Settings) -> None:
    now = datetime.now(UTC)
    password_hash = hash_password(DEMO_PASSWORD)
    async with in_transaction("default"):
        org = await Organization.create(name="Demo Co", slug=DEMO_ORG_SLUG)
        people = []
        for email, name, role in DEMO_PEOPLE:
            user, _ = await User.get_or_create(email=email, defaults={
                "name": name, "password_hash": password_hash, "email_verified": True,
                "age_check_passed_at": now, "terms_version": settings.terms_version,
                "terms_accepted_at": now})
            await Membership.create(organization=org, user=user, role=role)
            people.append(user)
        await _leads(org, people[:3], now)
        await _form(org, settings, people[0])


async def _form(org: Organization, settings: Settings, owner: User | None = None) -> None:
    """The demo's lead form: its hosted page is what `make run` prints last."""
    await LeadForm.create(
        organization_id=org.id, created_by_id=owner.id if owner else None,
        public_id=DEMO_FORM_ID, name="Contact us",
        fields_asked=[{"name": "name", "required": True}, {"name": "email", "required": True},
                      {"name": "company", "required": False},
                      {"name": "message", "required": False}],
        allowed_origins=list(settings.allowed_origins),
        consent_text="I agree that Demo Co may contact me about my request and keep my "
                     "details for that purpose.",
        consent_required=True, success_message="Thank you! Someone from Demo Co will get "
                                               "back to you within one working day.",
        page_title="Talk to Demo Co",
        page_intro="Tell us what you need and we will get back to you.",
        accent_color="#2457c5")


async def _leads(org: Organization, owners: list[User], now: datetime) -> None:
    """DEMO_LEADS leads with a few notes each, spread over the last weeks."""
    random = Random(2026)  # noqa: S311 (demo data, not security)
    statuses = list(LeadStatus)
    leads, notes, tags = [], [], []
    for n in range(DEMO_LEADS):
        first, last = random.choice(FIRST_NAMES), random.choice(LAST_NAMES)
        company = random.choice(COMPANIES)
        created = now - timedelta(minutes=37 * (DEMO_LEADS - n))
        lead = Lead(
            id=uuid.uuid4(), organization_id=org.id, name=f"{first} {last}",
            email=f"{first}.{last}{n}@{company.lower().replace(' ', '')}.example.com".lower(),
            phone=f"+1415555{n % 10000:04d}", company=company, title=random.choice(TITLES),
            status=random.choice(statuses), source=LeadSource.IMPORT,
            owner_id=random.choice(owners).id, tags=[random.choice(TAGS)],
            address_city="San Francisco", address_country="US",
            created_at=created, updated_at=created)
        leads.append(lead)
        tags.append(LeadTag(organization_id=org.id, lead_id=lead.id, tag=lead.tags[0]))
        for k in range(random.randint(0, 4)):
            notes.append(Note(id=uuid.uuid4(), organization_id=org.id, lead_id=lead.id,
                              author_id=random.choice(owners).id, body=random.choice(NOTES),
                              created_at=created + timedelta(hours=k + 1)))
    await prepare((org.id,))  # the org's data key: leads and notes are encrypted
    await Lead.bulk_create(leads, batch_size=200)
    await LeadTag.bulk_create(tags, batch_size=200)
    await Note.bulk_create(notes, batch_size=200)


DEMO_LEADS = 300
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia",
               "Tim", "Frances", "Dennis", "Hedy", "John", "Katherine", "Guido")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton",
              "Torvalds", "Perlman", "Berners-Lee", "Allen", "Ritchie", "Lamarr", "McCarthy")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises",
             "Hooli", "Pied Piper", "Vandelay", "Wonka")
TITLES = ("CTO", "Head of Sales", "Founder", "Procurement Lead", "VP Engineering", "Buyer")
TAGS = ("hot", "warm", "cold", "enterprise", "smb", "renewal")
NOTES = ("Called, left a voicemail about pricing.", "Sent the proposal.",
         "Asked for a demo next week.", "Budget approved for Q1.", "Follow up after the trial.")


if __name__ == "__main__":
    asyncio.run(load_demo(Settings.from_env()))
