"""Sentences for the operator in English and Dutch (issue 30).

A refusal (``ActionError``, ``BadNumber``, ``BadTime``, an appointment's ``NotFound`` or
``Conflict``) is raised with its English sentence as a template and the values it names::

    raise ActionError("there is no user {name}.", name=name)

Its text (``str(exc)``) is the English sentence, which the CLI prints as it always has; the
console shows ``exc.in_language(lang)``: the Dutch sentence of :data:`DUTCH`, keyed by the
English template, with the same values. A value that is itself a word of the sentence (which
list, which field) is :class:`Words`, written in the sentence's language. Every template
raised anywhere has a Dutch sentence: tests/test_sentences.py reads every raise in the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True)
class Words:
    """A part of a sentence in both languages (``str()`` is the English)."""

    en: str
    nl: str

    def __str__(self) -> str:
        return self.en


class Sentence(Exception):
    """An exception whose message is one sentence for the operator, in English and in Dutch."""

    def __init__(self, template: str, /, **values: object) -> None:
        self.template, self.values = template, values
        super().__init__(template.format(**values) if values else template)

    @classmethod
    def again(cls, other: Sentence) -> Self:
        """The same sentence as this class (a lower layer's refusal, passed on as the service's)."""
        return cls(other.template, **other.values)

    def in_language(self, lang: str) -> str:
        """The sentence in ``lang`` (nl or en); English when it has no Dutch (a test prevents that)."""
        dutch = DUTCH.get(self.template) if lang == "nl" else None
        if dutch is None:
            return str(self)
        values = {k: (v.nl if isinstance(v, Words) else v) for k, v in self.values.items()}
        return dutch.format(**values) if values else dutch


# English template -> Dutch template, with the same {names}. Add a line with every new sentence.
DUTCH: Mapping[str, str] = {
    # ---- user accounts (agi.actions.users) ----
    "{raw!r} is not a user name (2 to 32 of a-z, 0-9, '.', '_' or '-').": (
        "{raw!r} is geen gebruikersnaam (2 tot 32 tekens uit a-z, 0-9, '.', '_' of '-')."
    ),
    "the password must be {low} to {high} characters long.": "het wachtwoord moet {low} tot {high} tekens lang zijn.",
    "{what} {value!r} is not a dial string such as PJSIP/1005 (technology/resource, no options).": (
        "{what} {value!r} is geen kiesreeks zoals PJSIP/1005 (technologie/resource, zonder opties)."
    ),
    "an agent needs at least one interface, such as PJSIP/1001.": (
        "een medewerker heeft minstens één interface nodig, zoals PJSIP/1001."
    ),
    "only an agent has interfaces.": "alleen een medewerker heeft interfaces.",
    "the role must be {roles} or {last}.": "de rol moet {roles} of {last} zijn.",
    "user {name} already exists.": "gebruiker {name} bestaat al.",
    "there is no user {name}.": "er is geen gebruiker {name}.",
    "enter a phone number or a name.": "vul een telefoonnummer of een naam in.",
    "no caller is known by the name {name!r}.": "er is geen beller bekend met de naam {name!r}.",
    "more than {most} callers go by the name {name!r}: type more of the name, or the number.": "meer dan {most} "
    "bellers hebben de naam {name!r}: typ meer van de naam, of het nummer.",
    "the name {name!r} is not a display name (1 to {most} printable characters, no line breaks or control "
    "characters).": "de naam {name!r} is geen weergavenaam (1 tot {most} leesbare tekens, geen regeleinden of "
    "stuurtekens).",
    "interface {interface} has no name.": "interface {interface} heeft geen naam.",
    # ---- cool-downs ----
    "{interface} is not in a cool-down.": "{interface} heeft geen afkoelpauze.",
    "the cool-down of {interface} changed meanwhile; try again.": (
        "de afkoelpauze van {interface} is intussen veranderd; probeer het opnieuw."
    ),
    # ---- logbook filters and incidents ----
    "{raw!r} is not a date (YYYY-MM-DD).": "{raw!r} is geen datum (JJJJ-MM-DD).",
    "{raw!r} is out of range (a date from 2000 to 2100).": "{raw!r} valt buiten het bereik (een datum van 2000 tot 2100).",
    "category {category!r} is not in the protocol's weights.": "categorie {category!r} staat niet in de gewichten van het protocol.",
    "the start date is after the end date.": "de begindatum ligt na de einddatum.",
    "{raw!r} is not an incident id (16 hexadecimal digits, or 12 for older ones).": (
        "{raw!r} is geen incidentnummer (16 hexadecimale cijfers, of 12 bij oudere)."
    ),
    "there is no incident with id {iid}.": "er is geen incident met nummer {iid}.",
    "the answer must be one of {answers}.": "het antwoord moet een van {answers} zijn.",
    "the debrief is empty: choose an answer or write a note.": (
        "het nagesprek is leeg: kies een antwoord of schrijf een notitie."
    ),
    "category {category!r} is not in the protocol's weights ({weights}).": (
        "categorie {category!r} staat niet in de gewichten van het protocol ({weights})."
    ),
    "type the number {number} exactly to confirm the erasure.": "typ het nummer {number} precies over om het wissen te bevestigen.",
    "erased: {removed} record(s) removed, but durability not confirmed within {wait:g} s: Redis is still "
    "rewriting its files on disk, which may hold the number until then; run forget again later.": (
        "gewist: {removed} record(s) verwijderd, maar binnen {wait:g} s niet bevestigd op schijf: Redis "
        "herschrijft zijn bestanden nog, die het nummer tot dan kunnen bevatten; wis het later nogmaals."
    ),
    "the account is longer than {limit} characters.": "het verslag is langer dan {limit} tekens.",
    "the account must not contain control characters other than line breaks and tabs.": (
        "het verslag mag geen stuurtekens bevatten behalve regeleinden en tabs."
    ),
    # ---- the agent's own page, block requests ----
    "there is no incident of yours with id {iid}.": "u hebt geen incident met nummer {iid}.",
    "give a reason for the ban.": "geef een reden voor de blokkade.",
    "a withheld number cannot be banned.": "een afgeschermd nummer kan niet worden geblokkeerd.",
    "{caller} is already banned.": "{caller} is al geblokkeerd.",
    "a ban of {caller} has already been asked for; a supervisor will decide.": (
        "een blokkade van {caller} is al gevraagd; een leidinggevende beslist."
    ),
    "that block request is not open (any more).": "dat blokkadeverzoek staat niet (meer) open.",
    "that block request changed meanwhile; look again.": "dat blokkadeverzoek is intussen veranderd; kijk opnieuw.",
    # ---- evidence for the police ----
    "the police's reference must be 1 to 64 characters on one line.": (
        "het registratienummer van de politie moet 1 tot 64 tekens op één regel zijn."
    ),
    "the report date must be between the incident and today.": "de aangiftedatum moet tussen het incident en vandaag liggen.",
    "incident {iid} has no recording.": "incident {iid} heeft geen opname.",
    "the recording of incident {iid} cannot be read ({file}).": "de opname van incident {iid} kan niet worden gelezen ({file}).",
    # ---- bans and the allowlist ----
    "{label} must be a whole number from 1 to {most} (ten years).": "{label} moet een geheel getal van 1 tot {most} zijn (tien jaar).",
    "{prefix} covers every number of a country or a large part of one (it has {after} of the {digits} digits "
    "after the country code that [numbers] min_prefix_digits asks for); {ask}.": (
        "{prefix} omvat elk nummer van een land of een groot deel ervan (het heeft {after} van de {digits} "
        "cijfers na de landcode die [numbers] min_prefix_digits vraagt); {ask}."
    ),
    "{target} has no ban.": "{target} heeft geen blokkade.",
    "{target} is not on the allowlist.": "{target} staat niet op de uitzonderingslijst.",
    # ---- bounds of what an operator types ----
    "the actor {raw!r} is not a name (1 to {most} printable characters, no line breaks or control characters).": (
        "de uitvoerder {raw!r} is geen naam (1 tot {most} leesbare tekens, geen regeleinden of stuurtekens)."
    ),
    "the reason is longer than {limit} characters.": "de reden is langer dan {limit} tekens.",
    "the reason must be one line without control characters.": "de reden moet één regel zonder stuurtekens zijn.",
    "the {what} is longer than {limit} characters.": "de {what} is langer dan {limit} tekens.",
    "the {what} must not contain control characters other than line breaks and tabs.": (
        "de {what} mag geen stuurtekens bevatten behalve regeleinden en tabs."
    ),
    "{raw!r} is not a position in {where}.": "{raw!r} is geen plaats in {where}.",
    # ---- listening in (help requests) ----
    "the mode must be {modes} or {last}.": "de manier moet {modes} of {last} zijn.",
    "only a supervisor or an administrator can listen in.": "alleen een leidinggevende of een beheerder kan meeluisteren.",
    "{name} has no phone to ring: set one with `grenswacht users phone {name} PJSIP/...`.": (
        "{name} heeft geen toestel om te bellen: stel er een in met `grenswacht users phone {name} PJSIP/...`."
    ),
    "listening in needs AMI: set [ami] and GRENSWACHT_AMI_SECRET for the console.": (
        "meeluisteren vraagt AMI: stel [ami] en GRENSWACHT_AMI_SECRET in voor de console."
    ),
    "this call has ended.": "dit gesprek is beëindigd.",
    "the PBX did not take the call ({why}).": "de telefooncentrale nam het gesprek niet aan ({why}).",
    # ---- callback times and appointments (agi.callbacks) ----
    "there is no working day in the coming year; check callbacks.closed_dates.": (
        "er is geen werkdag in het komende jaar; controleer callbacks.closed_dates."
    ),
    "{digits!r} is not four digits (hours and minutes, e.g. 1030).": "{digits!r} is geen vier cijfers (uren en minuten, bijv. 1030).",
    "{digits!r} is not a time of day (hours 00-23, minutes 00-59).": "{digits!r} is geen tijdstip (uren 00-23, minuten 00-59).",
    "{t:%H:%M} is outside the working hours ({opens:%H:%M}-{closes:%H:%M}).": (
        "{t:%H:%M} valt buiten de werktijden ({opens:%H:%M}-{closes:%H:%M})."
    ),
    "that time is in the past.": "dat tijdstip ligt in het verleden.",
    "that time is outside the working hours ({opens:%H:%M}-{closes:%H:%M} on working days).": (
        "dat tijdstip valt buiten de werktijden ({opens:%H:%M}-{closes:%H:%M} op werkdagen)."
    ),
    "appointment {id} already exists.": "afspraak {id} bestaat al.",
    "no callback appointment with id {id!r}.": "er is geen terugbelafspraak met nummer {id!r}.",
    "appointment {id} kept changing; try again.": "afspraak {id} bleef veranderen; probeer het opnieuw.",
    "appointment {id} is {status}, so it cannot be {what}.": "afspraak {id} is {status}, dus kan niet meer worden {what}.",
    "{raw!r} is not a time (expected ISO 8601, e.g. 2026-11-24T10:30).": (
        "{raw!r} is geen tijdstip (verwacht ISO 8601, bijv. 2026-11-24T10:30)."
    ),
    # ---- phone numbers (agi.numbers) ----
    "{raw!r} is not a phone number: only digits, a leading + or 00, spaces, dashes, dots and parentheses are allowed.": (
        "{raw!r} is geen telefoonnummer: alleen cijfers, een + of 00 vooraan, spaties, streepjes, punten en "
        "haakjes zijn toegestaan."
    ),
    "{raw!r} is not a valid phone number (default region {region}).": (
        "{raw!r} is geen geldig telefoonnummer (standaardregio {region})."
    ),
    "{raw!r} is not a phone number (default region {region}).": "{raw!r} is geen telefoonnummer (standaardregio {region}).",
    "{raw!r} is not a number prefix (expected + and 2 to 14 digits, e.g. +3185123).": (
        "{raw!r} is geen nummerreeks (verwacht + en 2 tot 14 cijfers, bijv. +3185123)."
    ),
    # ---- the second factor (agi.actions.totp, console.security) ----
    "a second factor needs GRENSWACHT_WEB_SECRET (its secrets are encrypted with it).": (
        "een tweede factor vraagt GRENSWACHT_WEB_SECRET (de geheimen worden ermee versleuteld)."
    ),
    "the code is the 6 digits your authenticator app shows.": "de code is de 6 cijfers die uw authenticator-app toont.",
    "you already have a second factor; remove it first.": "u hebt al een tweede factor; verwijder die eerst.",
    "there is no second factor being set up (it expires after 15 minutes): start again.": (
        "er wordt geen tweede factor ingesteld (dat verloopt na 15 minuten): begin opnieuw."
    ),
    "that code is not right: check the time on your phone and try the next code.": (
        "die code klopt niet: controleer de tijd op uw telefoon en probeer de volgende code."
    ),
    "an admin must have a second factor here ([web] admin_totp = required).": (
        "een beheerder moet hier een tweede factor hebben ([web] admin_totp = required)."
    ),
    "you have no second factor.": "u hebt geen tweede factor.",
    "too many wrong codes: try again later.": "te veel verkeerde codes: probeer het later opnieuw.",
    "that code is not right (or was used already).": "die code klopt niet (of is al gebruikt).",
    "user {name} has no second factor.": "gebruiker {name} heeft geen tweede factor.",
    "the second factor cannot be read (was the web secret changed?): an admin must reset it.": (
        "de tweede factor kan niet worden gelezen (is het websecret gewijzigd?): een beheerder moet hem wissen."
    ),
    "reset another user's second factor; remove your own with a code.": (
        "wis de tweede factor van een andere gebruiker; verwijder uw eigen met een code."
    ),
    # ---- the console's own form checks (console.app) ----
    "enter a phone number.": "vul een telefoonnummer in.",
    "the ban length must be a whole number of days.": "de duur van de blokkade moet een geheel aantal dagen zijn.",
    "choose a number or a number range.": "kies een nummer of een nummerreeks.",
    "tick the box to confirm that the ban is to be lifted.": "vink het vakje aan om te bevestigen dat de blokkade wordt opgeheven.",
    "you cannot remove your own account.": "u kunt uw eigen account niet verwijderen.",
    "tick the box to confirm the purge.": "vink het vakje aan om het opschonen te bevestigen.",
}
