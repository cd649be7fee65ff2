"""The texts of every email Relleks sends, kept apart from the code that decides when to send
them: nothing outside `mail/` builds a `Mail` (tests/mail/test_messages.py checks).

Account links point at a page of the web client under `PUBLIC_URL` (`/verify-email`,
`/reset-password`); that page reads `token` from the query string and calls `verifyEmail` or
`resetPassword`. An export's link is the API's own download (`/exports/<token>`). Plain text
only: no tracking pixels, and the link is readable as it is.

Text that someone typed (a person's or an organization's name) never goes where it reads as ours:
never in a subject, never as a greeting, and in a body only through `quoted`, which says whose
words they are and keeps a mail client from turning them into a link.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from core.validation import invisible, looks_like_link
from mail import Mail

# Dots and colons as a mail client may read them in an address: the ASCII ones, the ideographic,
# full-width and halfwidth stops, the one-dot leader and the full-width colon.
_LINK_PUNCTUATION = re.compile("[.:\u3002\uff0e\uff61\u2024\uff1a]")


def link(public_url: str, page: str, token: str) -> str:
    """`{public_url}/{page}?token=...`, e.g. `http://127.0.0.1:8000/verify-email?token=rlk_ev_...`"""
    return f"{public_url.rstrip('/')}/{page}?{urlencode({'token': token})}"


def hours(ttl: timedelta) -> str:
    """`1 hour`, `48 hours`: how long a link lasts, in words."""
    count = round(ttl.total_seconds() / 3600)
    return "1 hour" if count == 1 else f"{count} hours"


def quoted(text: str) -> str:
    """Someone's words, shown as such: between double quotes (theirs become single ones), without
    invisible characters, and, when they read as an address (`looks_like_link`, say a name
    stored before names were checked), with every dot and colon bracketed, `evil[.]example`, so
    that no mail client makes a link of them."""
    text = " ".join("".join(c for c in text if not invisible(c) or c.isspace()).split())
    text = re.sub("[\"\u201c\u201d\u201e]", "'", text)
    if looks_like_link(text):
        text = _LINK_PUNCTUATION.sub(lambda m: f"[{m.group()}]", text)
    return f'"{text}"'


def invitation_mail(*, to: str, organization: str, inviter: str | None, role: str, url: str,
                    ttl: timedelta) -> Mail:
    """The subject is ours alone; the organization's and the inviter's names, chosen by people
    the recipient may not know, are quoted in the body as what they typed."""
    sender = f"A person who calls themselves {quoted(inviter)}" if inviter else "Someone"
    return Mail(to=to, subject="You have been invited to an organization on Relleks", body=(
        "Hello,\n\n"
        f"{sender} invited {to} to join an organization on Relleks, named "
        f"{quoted(organization)} (as its members named it), with the role {role}.\n\n"
        f"Those names are what people typed, not words of Relleks. If you do not know this "
        f"organization, ignore this email: nothing happens unless you accept.\n\n"
        "To accept, open this link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {ttl.days} days.\n\n"
        f"-- Relleks\n"
    ))


def verification_mail(*, to: str, name: str, url: str, ttl: timedelta) -> Mail:
    return Mail(to=to, subject="Confirm your email address for Relleks", body=(
        "Hello,\n\n"
        f"Please confirm that {to} is your email address by opening this link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {hours(ttl)}. If you did not sign up for Relleks, "
        f"you can ignore this email.\n\n"
        f"-- Relleks\n"
    ))


def password_reset_mail(*, to: str, name: str, url: str, ttl: timedelta) -> Mail:
    return Mail(to=to, subject="Reset your Relleks password", body=(
        "Hello,\n\n"
        f"Someone (we hope you) asked to reset the password of the Relleks account for {to}. "
        f"To choose a new password, open this link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {hours(ttl)}. Choosing a new password signs you "
        f"out everywhere. If you did not ask for this, ignore this email: your password stays "
        f"as it is.\n\n"
        f"-- Relleks\n"
    ))


def sign_up_mail(*, to: str, url: str, ttl: timedelta) -> Mail:
    """The link that finishes a sign-up; whoever filled in the form may not own the address."""
    return Mail(to=to, subject="Confirm your email address to finish signing up for Relleks",
                body=(
        "Hello,\n\n"
        f"Someone (we hope you) signed up for Relleks with {to}. To confirm that this is your "
        f"address and finish signing up, open this link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {hours(ttl)}; it signs you in to your new account. "
        f"If you did not sign up for Relleks, do not open it and ignore this email: no account "
        f"is made without it.\n\n"
        f"-- Relleks\n"
    ))


def sign_up_taken_mail(*, to: str) -> Mail:
    """To the owner of an address someone tried to sign up with: no link, nothing to confirm."""
    return Mail(to=to, subject="Someone tried to sign up for Relleks with your address", body=(
        "Hello,\n\n"
        f"Someone (maybe you) tried to sign up for Relleks with {to}. That address already has "
        f"a Relleks account, so no new account was made and nothing has changed.\n\n"
        f"If it was you, sign in to your account as you usually do; if you forgot your "
        f"password, ask for a new one on the sign-in page. If it was not you, you can ignore "
        f"this email.\n\n"
        f"-- Relleks\n"
    ))


def social_link_mail(*, to: str, name: str, provider: str, url: str, ttl: timedelta) -> Mail:
    return Mail(to=to, subject=f"Link your {provider} account to Relleks", body=(
        "Hello,\n\n"
        f"Someone (we hope you) signed in with a {provider} account that uses {to}, the address "
        f"of your Relleks account. To link it, so that it signs you in to Relleks from now on, "
        f"open this link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {hours(ttl)}. If this was not you, ignore this "
        f"email: nothing is linked unless you open it.\n\n"
        f"-- Relleks\n"
    ))


def policy_notice_mail(*, to: str, name: str, version: str, url: str, effective_on: date) -> Mail:
    return Mail(to=to, subject="Relleks has updated its terms and privacy policy", body=(
        "Hello,\n\n"
        f"We have published a new version ({version}) of the Relleks terms of service and "
        f"privacy policy, in force from {effective_on:%d %B %Y}. You can read it here:\n\n"
        f"{url}\n\n"
        f"The next time you sign in, Relleks will ask you to accept it. We send this notice "
        f"once per new version, whatever your email preferences.\n\n"
        f"-- Relleks\n"
    ))


def export_ready_mail(*, to: str, organization_slug: str | None, url: str,
                      expires_at: datetime) -> Mail:
    """An export's single-use download link: the account's own data, or, given its slug, an
    organization's. `expires_at` is in UTC. The slug (lowercase letters, digits and single
    hyphens, so never a link) was chosen by the organization's members: it is the one piece of
    typed text left in a subject, kept as the mail always had it."""
    what = f"organization {organization_slug}" if organization_slug else "Relleks data"
    return Mail(to=to, subject=f"Your {what} export is ready", body=(
        "Hello,\n\n"
        f"Your {what} export is ready. Download it once from\n\n"
        f"{url}\n\n"
        f"The link works once and until {expires_at:%Y-%m-%d %H:%M} UTC. For a new link, ask "
        "the API for `me { dataExports(first: 1) { nodes { downloadUrl } } }`.\n"
    ))


def form_confirmation_mail(*, to: str, form: str, organization: str, url: str,
                           ttl: timedelta) -> Mail:
    """Double opt-in: the person who filled in an organization's lead form confirms that the
    address is theirs and that they meant it. The form's and the organization's names were
    typed by that organization: quoted in the body, never in the subject."""
    return Mail(to=to, subject="Please confirm your request", body=(
        "Hello,\n\n"
        f"Someone (we hope you) sent the form {quoted(form)} of the organization "
        f"{quoted(organization)} (as its members named them) with the address {to}. To "
        f"confirm that this is your address and that you want them to contact you, open this "
        f"link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {hours(ttl)}. If this was not you, ignore this "
        f"email: the request is dropped unless you open it, and deleted soon after.\n\n"
        f"-- Sent by Relleks for that organization\n"
    ))


def webhook_disabled_mail(*, to: str, organization_slug: str, url: str, reason: str,
                          failing_since: datetime | None) -> Mail:
    """An organization's webhook endpoint was turned off: it kept failing (since
    `failing_since`, UTC) or answered 410 Gone. The URL was typed by an admin of that
    organization: in the body only, quoted."""
    why = ("it answered 410 Gone" if reason == "gone" else
           f"every delivery failed since {failing_since:%Y-%m-%d %H:%M} UTC"
           if failing_since else "its deliveries kept failing")
    return Mail(to=to, subject="A webhook endpoint of your organization was disabled", body=(
        "Hello,\n\n"
        f"The webhook endpoint {quoted(url)} of the organization {organization_slug} was "
        f"disabled because {why}.\n\n"
        "Its messages keep queuing: fix the receiver, then enable the endpoint again "
        "(`enableWebhookEndpoint`) and they are sent. The delivery log "
        "(`webhookEndpoint.messages`) shows what it answered.\n\n"
        "-- Relleks\n"
    ))


def support_answered_mail(*, to: str, category: str, url: str) -> Mail:
    """Relleks support answered the requester's ticket. Neither the subject the requester typed
    nor the answer is in the mail: the ticket is read in the app, behind its sign-in."""
    return Mail(to=to, subject="Relleks support answered your request", body=(
        "Hello,\n\n"
        f"Relleks support answered your {category} request. Read the answer, and reply, "
        "here:\n\n"
        f"{url}\n\n"
        "-- Relleks support\n"
    ))


def support_request_done_mail(*, to: str, category: str, url: str) -> Mail:
    """The work of the requester's data-rights ticket is done (their export is ready, their
    account's deletion is scheduled, their optional consents are withdrawn) and the ticket is
    resolved. What was typed stays in the app; the ticket's last message says what was done."""
    return Mail(to=to, subject=f"Your {category} request is done", body=(
        "Hello,\n\n"
        f"Relleks has carried out your {category} request, and the ticket is resolved. What "
        "was done, and what you can still change, is in the ticket:\n\n"
        f"{url}\n\n"
        "A reply in the ticket reopens it.\n\n"
        "-- Relleks support\n"
    ))


def support_waiting_mail(*, to: str, category: str, url: str, opened: bool) -> Mail:
    """To the staff mailbox (`SUPPORT_MAILBOX`): a ticket was opened, or its requester wrote in
    it. What they typed stays in the app (it may hold personal data): the mail names the
    ticket's category and links to it."""
    what = "A new support ticket" if opened else "A requester answered a support ticket"
    return Mail(to=to, subject=f"{what} ({category}) is waiting", body=(
        "Hello,\n\n"
        f"{what} ({category}) is waiting for an answer:\n\n"
        f"{url}\n\n"
        "-- Relleks\n"
    ))


def privacy_request_verify_mail(*, to: str, organization: str, kind: str, url: str,
                                ttl: timedelta) -> Mail:
    """Someone asked an organization, on its public privacy page, for access to or erasure of
    what it holds about this address: the person confirms the address is theirs. Nothing
    reaches the organization before the link is opened. Its name was typed by its members:
    quoted in the body, never in the subject."""
    return Mail(to=to, subject="Please confirm your privacy request", body=(
        "Hello,\n\n"
        f"Someone (we hope you) asked the organization {quoted(organization)} (as its members "
        f"named it) for {kind} of the data it holds about {to}. To confirm that this is your "
        "address and send the request, open this link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {hours(ttl)}. If this was not you, ignore this "
        "email: nothing is sent unless the link is opened.\n\n"
        "-- Sent by Relleks for that organization\n"
    ))


def privacy_export_mail(*, to: str, organization: str, url: str, expires_at: datetime) -> Mail:
    """The answer to a verified access request: a link to the copy of what the organization
    holds about the address (JSON)."""
    return Mail(to=to, subject="Your data: the answer to your access request", body=(
        "Hello,\n\n"
        f"The organization {quoted(organization)} answered your access request. Download the "
        "copy of the data it holds about you (a JSON file) from\n\n"
        f"{url}\n\n"
        f"The link works until {expires_at:%Y-%m-%d %H:%M} UTC.\n\n"
        "-- Sent by Relleks for that organization\n"
    ))


def privacy_erased_mail(*, to: str, organization: str) -> Mail:
    """The answer to a verified erasure request: it was carried out."""
    return Mail(to=to, subject="Your erasure request was carried out", body=(
        "Hello,\n\n"
        f"The organization {quoted(organization)} erased the data it held about {to}: its "
        "leads, notes, form submissions and consent receipts about you are deleted, and its "
        "activity log keeps no details about you.\n\n"
        "-- Sent by Relleks for that organization\n"
    ))


def privacy_rejected_mail(*, to: str, organization: str, kind: str, reason: str) -> Mail:
    """A verified request was turned down, with the organization's reason (its words,
    quoted)."""
    return Mail(to=to, subject="About your privacy request", body=(
        "Hello,\n\n"
        f"The organization {quoted(organization)} did not carry out your {kind} request. "
        f"Its reason, in its own words:\n\n{quoted(reason)}\n\n"
        "If you disagree, you may reply to the organization directly or complain to your data "
        "protection authority.\n\n"
        "-- Sent by Relleks for that organization\n"
    ))


def privacy_overdue_mail(*, to: str, organization_slug: str, kind: str, due_at: datetime,
                         url: str) -> Mail:
    """To an OWNER: a verified privacy request of their organization is past its legal
    deadline. The requester's email stays in the app."""
    return Mail(to=to, subject=f"A privacy request to {organization_slug} is overdue", body=(
        "Hello,\n\n"
        f"A verified {kind} request to the organization {organization_slug} was due on "
        f"{due_at:%Y-%m-%d %H:%M} UTC and is not answered yet. Answer it from its task "
        "(`organization.privacyRequests`):\n\n"
        f"{url}\n\n"
        "-- Relleks\n"
    ))
