"""The console's words in Dutch and English; templates call t("key")."""

from __future__ import annotations

LANGUAGES = ("nl", "en")

_T: dict[str, tuple[str, str]] = {  # key: (nl, en)
    "board": ("Live", "Live board"),
    "logbook": ("Logboek", "Logbook"),
    "bans": ("Blokkades", "Bans"),
    "warnings": ("Waarschuwingen", "Warnings"),
    "stats": ("Statistiek", "Statistics"),
    "audit": ("Audit", "Audit trail"),
    "admin": ("Beheer", "Admin"),
    "logout": ("Afmelden", "Log out"),
    "login": ("Aanmelden", "Log in"),
    "user": ("Gebruiker", "User"),
    "password": ("Wachtwoord", "Password"),
    "caller": ("Beller", "Caller"),
    "agent": ("Medewerker", "Agent"),
    "queue": ("Wachtrij", "Queue"),
    "category": ("Categorie", "Category"),
    "time": ("Tijd", "Time"),
    "note": ("Notitie", "Note"),
    "debrief": ("Nagesprek", "Debrief"),
    "open": ("open", "open"),
    "done": ("gedaan", "done"),
    "from": ("Van", "From"),
    "to": ("Tot", "To"),
    "filter": ("Filteren", "Filter"),
    "awaiting": ("Wacht op nagesprek", "Awaiting debrief"),
    "next": ("Volgende", "Next"),
    "prev": ("Vorige", "Previous"),
    "page": ("Pagina", "Page"),
    "none": ("Niets te tonen.", "Nothing to show."),
    "incident": ("Incident", "Incident"),
    "live_incidents": ("Incidenten vandaag", "Incidents today"),
    "cooldowns": ("In afkoelpauze", "In cool-down"),
    "left": ("nog", "left"),
    "end_now": ("Nu beëindigen", "End now"),
    "handovers": ("Doorverbonden naar senior vandaag", "Sent to a senior today"),
    "decision": ("Besluit nu", "Decision now"),
    "score": ("Score", "Score"),
    "window": ("venster", "window"),
    "ban": ("Blokkeren", "Ban"),
    "ban_now": ("Blokkade", "Ban"),
    "days_label": ("Aantal dagen", "Days"),
    "unban": ("Blokkade opheffen", "Lift ban"),
    "days": ("dagen", "days"),
    "reason": ("Reden", "Reason"),
    "until": ("Tot", "Until"),
    "by": ("Door", "By"),
    "at": ("Op", "At"),
    "allowlist": ("Uitzonderingen", "Allowlist"),
    "allow": ("Op uitzonderingslijst", "Allowlist"),
    "disallow": ("Van uitzonderingslijst af", "Remove from allowlist"),
    "number": ("Nummer", "Number"),
    "range": ("Nummerreeks", "Number range"),
    "confirm_range": (
        "Ik bedoel de hele reeks (nodig voor een land of een groot deel ervan)",
        "I mean the whole range (needed for a country or a large part of one)",
    ),
    "kind": ("Soort", "Kind"),
    "source": ("Bron", "Source"),
    "warning_sent": ("Schriftelijke waarschuwing verstuurd", "Written warning sent"),
    "mark_sent": ("Markeer als verstuurd", "Mark as sent"),
    "letter": ("Brief", "Letter"),
    "due": ("Komen in aanmerking", "Due a warning"),
    "save": ("Opslaan", "Save"),
    "search": ("Zoeken", "Search"),
    "q_conscious": ("Heeft de medewerker bewust gereageerd?", "Did the agent react consciously?"),
    "conscious": ("Bewust", "Conscious"),
    "impulsive": ("Impulsief", "Impulsive"),
    "not-discussed": ("Niet besproken", "Not discussed"),
    "debriefed_by": ("Nagesprek door", "Debriefed by"),
    "users": ("Gebruikers", "Users"),
    "role": ("Rol", "Role"),
    "add": ("Toevoegen", "Add"),
    "remove": ("Verwijderen", "Remove"),
    "export": ("Inzageverzoek: export van één beller", "Subject access request: export one caller"),
    "erase": ("Vergeten (wissen)", "Erase (forget)"),
    "erase_confirm": ("Typ het nummer nogmaals ter bevestiging", "Type the number again to confirm"),
    "purge": ("Opschonen (bewaartermijn)", "Purge (retention)"),
    "action": ("Handeling", "Action"),
    "details": ("Details", "Details"),
    "per_day": ("Incidenten per dag", "Incidents per day"),
    "per_week": ("Incidenten per week", "Incidents per week"),
    "screenings": ("Screenings per besluit", "Screenings by decision"),
    "refused_banned": ("Geweigerd tijdens blokkade", "Refused while banned"),
    "repeat": ("Herhaalbellers", "Repeat callers"),
    "open_age": ("Open nagesprekken naar leeftijd", "Open debriefs by age"),
    "per_agent": ("Incidenten per medewerker", "Incidents per agent"),
    "saved": ("Opgeslagen.", "Saved."),
    "incidents": ("Incidenten", "Incidents"),
    "all": ("alle", "all"),
    "print": ("Afdrukken", "Print"),
    "change_pw": ("Wachtwoord wijzigen", "Change password"),
    "throttled": (
        "Te veel mislukte pogingen; probeer het later opnieuw.",
        "Too many failed attempts; try again later.",
    ),
    "bad_login": ("Onbekende gebruiker of verkeerd wachtwoord.", "Unknown user or wrong password."),
    "expired": ("Uw sessie is verlopen; meld u opnieuw aan.", "Your session has expired; please log in again."),
    "live_hint": ("Nieuwe incidenten verschijnen hier vanzelf.", "New incidents appear here by themselves."),
    "callbacks": ("Terugbelafspraken", "Callbacks"),
    "cb_open": ("Openstaand", "Open"),
    "cb_finished": ("Recent afgerond", "Recently finished"),
    "cb_due": ("Afgesproken tijd", "Due"),
    "status": ("Status", "Status"),
    "attempts": ("Pogingen", "Attempts"),
    "outcome": ("Uitkomst", "Outcome"),
    "move": ("Verzetten", "Move"),
    "cancel": ("Annuleren", "Cancel"),
    "cb_zone": ("Tijden in tijdzone", "Times in time zone"),
    "language": ("Taal", "Language"),
    "last_incident": ("Laatste incident", "Last incident"),
    "download": ("Download", "Download"),
    # ---- errors, logins and the live board's state (issue 30) ----
    "too_large": ("Dit formulier is te groot.", "This form is too large."),
    "csrf_refused": (
        "Het beveiligingskenmerk van dit formulier ontbreekt of klopt niet; laad de pagina opnieuw en probeer het nog eens.",
        "The form's security token is missing or wrong; reload the page and try again.",
    ),
    "csrf_login": (
        "Het aanmeldformulier was verlopen (of uw browser bewaart geen cookies); probeer het nog eens.",
        "The login form had expired (or your browser keeps no cookies); please try again.",
    ),
    "needs_https": (
        "Deze console stuurt haar sessiecookie alleen over HTTPS (secure_cookies = true), maar deze pagina "
        "is over gewoon HTTP geopend. Open de console met https:// (via de reverse proxy met TLS).",
        "This console sends its session cookie over HTTPS only (secure_cookies = true), but this page was "
        "opened over plain HTTP. Open the console with https:// (through the reverse proxy with TLS).",
    ),
    "admin_only": ("Deze pagina is voor beheerders.", "This page is for administrators."),
    "supervisors_only": ("Deze pagina is voor leidinggevenden.", "This page is for supervisors."),
    "store_down": (
        "De opslag (Redis) is niet bereikbaar; probeer het over een ogenblik opnieuw.",
        "The store (Redis) is unreachable; try again in a moment.",
    ),
    "not_found": ("Deze pagina bestaat niet.", "There is no such page."),
    "method_not_allowed": ("Deze handeling kan hier niet.", "That cannot be done on this page."),
    "server_error": (
        "Er ging iets mis in de console; het is gelogd. Probeer het opnieuw.",
        "Something went wrong in the console; it has been logged. Please try again.",
    ),
    "no_action": ("Deze handeling bestaat niet.", "There is no such action."),
    "lockouts": ("Geblokkeerde aanmeldingen", "Login lockouts"),
    "unlock": ("Vrijgeven", "Lift"),
    "failures": ("Mislukte pogingen", "Failed attempts"),
    "lock_account": ("account", "account"),
    "lock_address": ("adres", "address"),
    "minutes_left": ("min. nog", "min. left"),
    "live_on": ("verbonden", "connected"),
    "live_reconnecting": (
        "Verbinding met de console verbroken; opnieuw verbinden…",
        "Disconnected from the console; reconnecting…",
    ),
    "live_store_down": (
        "De opslag (Redis) is niet bereikbaar: nieuwe incidenten verschijnen zodra hij terug is.",
        "The store (Redis) is unreachable: new incidents appear as soon as it is back.",
    ),
    "live_ended": (
        "Uw sessie is beëindigd; dit bord wordt niet meer bijgewerkt. Meld u opnieuw aan.",
        "Your session has ended; this board is no longer updated. Please log in again.",
    ),
    # evidence for the police (issue 28)
    "recording": ("Opname", "Recording"),
    "for_supervisors": ("Alleen voor supervisors en beheerders.", "For supervisors and administrators only."),
    "police": ("Aangifte", "Police report"),
    "police_report": ("Aangifterapport (zip)", "Police report (zip)"),
    "reported_on": ("Aangifte gedaan op", "Reported on"),
    "police_ref": ("Registratienummer politie", "Police registration code"),
    "mark_reported": ("Markeer als aangegeven", "Mark reported"),
    "account": ("Verklaring van de medewerker", "The agent's account"),
    "account_hint": (
        "Wat is er precies gezegd? (max. 4000 tekens)",
        "What was said, exactly? (at most 4,000 characters)",
    ),
    "threats_unreported": ("Bedreigingen zonder aangifte", "Threats not yet reported"),
    "report_by": ("aangifte uiterlijk", "report by"),
}

# Issue 29: help requests, listen-in, the agent's page.
_T.update(
    {
        "help_requested": ("Hulp gevraagd", "Help requested"),
        "help_hint": ("Rijen verdwijnen zodra het gesprek eindigt.", "Rows leave when the call ends."),
        "call_length": ("Gesprek duurt", "Call length"),
        "history": ("Voorgeschiedenis", "History"),
        "listen": ("Meeluisteren", "Listen"),
        "whisper": ("Fluisteren", "Whisper"),
        "take_over": ("Overnemen", "Take over"),
        "phone": ("Toestel", "Phone"),
        "interfaces": ("Agent-interfaces", "Agent interfaces"),
        "agents_only": ("alleen voor de rol agent", "role agent only"),
        "my_page": ("Mijn pagina", "My page"),
        "my_incidents": ("Mijn incidenten", "My incidents"),
        "my_callbacks": ("Mijn terugbelafspraken", "My callbacks"),
        "my_cooldown": ("Mijn afkoelpauze", "My cool-down"),
        "my_call": ("Mijn huidige gesprek", "My current call"),
        "no_call": ("U bent nu niet in gesprek.", "You are not on a call now."),
        "account": ("Mijn verslag: wat er precies gezegd is", "My account: what was said, exactly"),
        "ask_ban": ("Blokkade van deze beller vragen", "Ask for a ban of this caller"),
        "block_requests": ("Gevraagde blokkades", "Block requests"),
        "my_requests": ("Mijn gevraagde blokkades", "My block requests"),
        "approve": ("Goedkeuren (blokkeren)", "Approve (ban)"),
        "decline": ("Afwijzen", "Decline"),
        "status": ("Status", "Status"),
    }
)


def translate(lang: str, key: str) -> str:
    pair = _T.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


_T.update(  # issue 30: the tick box before a destructive action (lifting a ban, purging)
    {"confirm_sure": ("Ik weet het zeker", "I am sure")}
)

_T.update(  # issue 30: the bans page's lists, paged, with their exact counts
    {
        "numbers_banned": ("Geblokkeerde nummers", "Numbers banned"),
        "ranges_banned": ("geblokkeerde nummerreeksen", "number ranges banned"),
        "numbers_allowed": ("Nummers op de uitzonderingslijst", "Numbers allowlisted"),
        "ranges_allowed": ("nummerreeksen op de uitzonderingslijst", "number ranges allowlisted"),
    }
)

_T.update(  # issue 30: the live board shows today's newest incidents, the logbook all of them
    {
        "today_newest": ("Nieuwste incidenten van vandaag:", "Today's newest incidents:"),
        "today_all": ("alle incidenten van vandaag in het logboek", "all of today's incidents in the logbook"),
    }
)
