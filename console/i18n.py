"""The console's words in Dutch and English; templates call t("key")."""

from __future__ import annotations

from collections.abc import Mapping

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
    "for_supervisors": ("Alleen voor leidinggevenden en beheerders.", "For supervisors and administrators only."),
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
        "interfaces": ("Medewerker-interfaces", "Agent interfaces"),
        "agents_only": ("alleen voor de rol medewerker", "role agent only"),
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

_T.update(  # issue 29: the board's live calls, to listen in on any of them
    {
        "live_calls": ("Gesprekken nu", "Calls now"),
        "no_queue": ("Buiten een wachtrij", "Outside a queue"),
    }
)

_T.update(  # issue 30: the board's alerts and the TOTP second factor (console/security.py)
    {
        "alert_sound": ("Geluid bij nieuw incident", "Sound on a new incident"),
        "alert_desktop": ("Bureaubladmelding", "Desktop notification"),
        "alert_incident": ("Nieuw incident", "New incident"),
        "alert_help": ("Hulp gevraagd", "Help requested"),
        "alert_denied": (
            "De browser staat geen meldingen toe; sta ze toe in de site-instellingen.",
            "The browser does not allow notifications; allow them in the site settings.",
        ),
        "alert_unsupported": (
            "Deze browser kent geen bureaubladmeldingen.",
            "This browser has no desktop notifications.",
        ),
        "alert_blocked": (
            "Klik ergens op de pagina om geluid toe te staan.",
            "Click anywhere on the page to allow sound.",
        ),
        "security_page": ("Beveiliging", "Security"),
        "totp": ("Tweede factor (authenticator-app)", "Second factor (authenticator app)"),
        "totp_on": ("Aan sinds", "On since"),
        "totp_off": (
            "Uit. Met een tweede factor vraagt het aanmelden na het wachtwoord ook een code uit uw app.",
            "Off. With a second factor, logging in asks for a code from your app after the password.",
        ),
        "totp_start": ("Tweede factor instellen", "Set up a second factor"),
        "totp_scan": (
            "Scan de code met uw authenticator-app (of typ de geheime sleutel over) en vul de eerste code in."
            " De sleutel wordt hierna niet meer getoond.",
            "Scan the code with your authenticator app (or type in the secret key) and enter its first code."
            " The key is not shown again afterwards.",
        ),
        "totp_secret": ("Geheime sleutel", "Secret key"),
        "totp_first_code": ("Eerste code uit de app", "First code from the app"),
        "totp_confirm": ("Bevestigen", "Confirm"),
        "totp_code": ("Code uit uw authenticator-app", "Code from your authenticator app"),
        "totp_code_hint": (
            "Zes cijfers; elke code geldt één keer. Telefoon kwijt? Vraag een beheerder de tweede factor te wissen.",
            "Six digits; each code works once. Lost your phone? Ask an admin to reset your second factor.",
        ),
        "totp_bad_code": ("Die code klopt niet (of is al gebruikt).", "That code is not right (or was used already)."),
        "totp_remove": ("Tweede factor verwijderen", "Remove the second factor"),
        "totp_required": (
            "Een beheerder moet hier een tweede factor hebben: stel die eerst in.",
            "An admin must have a second factor here: set it up first.",
        ),
        "totp_others": ("Tweede factoren van gebruikers", "Users' second factors"),
        "totp_reset": ("Wissen", "Reset"),
    }
)
_T.update(  # issue 30: caller names and agent names
    {
        "number_or_name": ("Telefoonnummer of naam", "Phone number or name"),
        "callers_found": ("Bellers met deze naam", "Callers by this name"),
        "agent_names": ("Namen van agents", "Agent names"),
        "interface": ("Interface", "Interface"),
        "display_name": ("Naam", "Name"),
    }
)

# ---- issue 30 (i18n): every word on a page in the user's language ------------------------------
_T.update(
    {
        "saved_ok": ("Gedaan.", "Done."),
        "erased_n": ("Gewist: {n} record(s).", "Erased: {n} record(s)."),
        "purged_n": ("Opgeschoond: {n} incident(en).", "Purged: {n} incident(s)."),
        "no_file": ("Dit bestand bestaat niet.", "There is no such file."),
        "protocol": ("protocol", "protocol"),
        "call_ids": ("uniqueid / linkedid (Asterisk)", "uniqueid / linkedid (Asterisk)"),
        "chart_incidents": ("incidenten", "incidents"),
        "chart_open": ("open", "open"),
        # "account" is the agent's own words on /me ("My account"); a supervisor reads it as the agent's
        "agent_account": ("Verklaring van de medewerker", "The agent's account"),
    }
)

# The words of stored values (kind -> value -> (nl, en)): a value without a word is shown as it is.
# Categories are the protocol's own names; [web.category_labels] in the configuration names more.
VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "category": {
        "abuse": ("grof taalgebruik", "abusive language"),
        "intimidation": ("intimidatie", "intimidation"),
        "threat": ("bedreiging", "threat"),
        "handover": ("naar senior", "sent to a senior"),
        "callback": ("terugbellen", "callback"),
    },
    "action": {  # a screening's decision (agi.engine.Action)
        "allow": ("doorlaten", "let through"),
        "warn": ("waarschuwen", "warn"),
        "senior": ("naar senior", "to a senior"),
        "refuse": ("weigeren", "refuse"),
    },
    "reason": {  # why (agi.engine.Reason)
        "clean": ("geen incidenten boven de drempel", "no incidents over the threshold"),
        "allowlisted": ("op de uitzonderingslijst", "on the allowlist"),
        "prefix-allowlisted": ("nummerreeks op de uitzonderingslijst", "number range on the allowlist"),
        "banned": ("geblokkeerd", "banned"),
        "prefix-banned": ("nummerreeks geblokkeerd", "number range banned"),
        "warn-threshold": ("waarschuwingsdrempel bereikt", "warning threshold reached"),
        "senior-threshold": ("seniordrempel bereikt", "senior threshold reached"),
        "refuse-threshold": ("weigerdrempel bereikt", "refusal threshold reached"),
        "anonymous": ("nummer afgeschermd", "number withheld"),
        "store-unavailable": ("opslag niet bereikbaar", "store unavailable"),
        "bad-request": ("ongeldig verzoek", "bad request"),
        "busy": ("te druk", "too busy"),
        "error": ("fout", "error"),
    },
    "ban_source": {
        "manual": ("met de hand", "set by hand"),
        "protocol": ("protocol (score)", "protocol (score)"),
        "prefix": ("nummerreeks", "number range"),
    },
    "callback": {  # an appointment's status (redis_schema.records)
        "scheduled": ("gepland", "scheduled"),
        "calling": ("wordt gebeld", "calling"),
        "done": ("gebeld", "done"),
        "no-answer": ("geen gehoor", "no answer"),
        "failed": ("mislukt", "failed"),
        "cancelled": ("geannuleerd", "cancelled"),
        "missed": ("gemist", "missed"),
    },
    "outcome": {  # an attempt's outcome: Asterisk's DIALSTATUS, or the placer's own word
        "ANSWER": ("opgenomen", "answered"),
        "NOANSWER": ("geen gehoor", "no answer"),
        "BUSY": ("in gesprek", "busy"),
        "CONGESTION": ("netwerk bezet", "network busy"),
        "CHANUNAVAIL": ("niet bereikbaar", "unreachable"),
        "CANCEL": ("afgebroken", "cancelled"),
        "agent-no-answer": ("medewerker nam niet op", "the agent did not answer"),
        "interrupted": ("onderbroken", "interrupted"),
        "banned": ("beller geblokkeerd", "caller banned"),
        "missed": ("gemist", "missed"),
        "cancelled": ("geannuleerd", "cancelled"),
    },
    "request": {  # an agent's block request
        "open": ("open", "open"),
        "approved": ("goedgekeurd", "approved"),
        "declined": ("afgewezen", "declined"),
    },
    "role": {
        "agent": ("medewerker", "agent"),
        "supervisor": ("leidinggevende", "supervisor"),
        "admin": ("beheerder", "administrator"),
    },
    "source": {  # how an incident was logged
        "key": ("toets tijdens het gesprek", "key during the call"),
        "aftercall": ("code na het gesprek", "after-call code"),
        "handover": ("doorverbindtoets", "handover key"),
        "cli": ("met de hand (CLI)", "by hand (CLI)"),
        "callback": ("terugbelafspraak", "callback"),
        "web": ("console", "console"),
    },
    "age": {  # the open-debriefs chart (agi.actions.audit.OPEN_AGES)
        "< 1d": ("< 1 dag", "< 1 day"),
        "1-3d": ("1-3 dagen", "1-3 days"),
        "3-7d": ("3-7 dagen", "3-7 days"),
        "> 7d": ("> 7 dagen", "> 7 days"),
    },
    "audit": {  # the audit trail's actions
        "allow": ("op uitzonderingslijst", "allowlisted"),
        "disallow": ("van uitzonderingslijst af", "removed from allowlist"),
        "ban": ("blokkade", "ban"),
        "unban": ("blokkade opgeheven", "ban lifted"),
        "block-approved": ("blokkadeverzoek goedgekeurd", "block request approved"),
        "block-declined": ("blokkadeverzoek afgewezen", "block request declined"),
        "block-request": ("blokkade gevraagd", "block requested"),
        "callback-add": ("terugbelafspraak gemaakt", "callback made"),
        "callback-cancel": ("terugbelafspraak geannuleerd", "callback cancelled"),
        "callback-move": ("terugbelafspraak verzet", "callback moved"),
        "cooldown-end": ("afkoelpauze beëindigd", "cool-down ended"),
        "export": ("export", "export"),
        "forget": ("gewist (vergeten)", "erased (forgotten)"),
        "forget-not-on-disk": ("wissen nog niet op schijf", "erasure not yet on disk"),
        "incident-account": ("verslag van medewerker", "agent's account"),
        "incident-add": ("incident toegevoegd", "incident added"),
        "incident-debrief": ("nagesprek", "debrief"),
        "incident-report": ("aangifterapport gemaakt", "police report made"),
        "incident-reported": ("aangifte gedaan", "reported to the police"),
        "login": ("aangemeld", "logged in"),
        "login-failed": ("aanmelding mislukt", "login failed"),
        "login-unlock": ("aanmelding vrijgegeven", "login lockout lifted"),
        "purge": ("opgeschoond", "purged"),
        "rebuild-indexes": ("indexen herbouwd", "indexes rebuilt"),
        "recording-play": ("opname afgespeeld", "recording played"),
        "recording-download": ("opname gedownload", "recording downloaded"),
        "user-add": ("gebruiker toegevoegd", "user added"),
        "user-passwd": ("wachtwoord gewijzigd", "password changed"),
        "user-phone": ("toestel gewijzigd", "phone changed"),
        "user-remove": ("gebruiker verwijderd", "user removed"),
        "warning-sent": ("waarschuwing verstuurd", "warning sent"),
        "listen": ("meegeluisterd", "listened in"),
        "whisper": ("gefluisterd", "whispered"),
        "takeover": ("gesprek overgenomen", "call taken over"),
    },
    "detail": {  # the names of the audit trail's details (their values are shown as stored)
        "caller": ("beller", "caller"),
        "incident": ("incident", "incident"),
        "user": ("gebruiker", "user"),
        "appointment": ("afspraak", "appointment"),
        "agent": ("medewerker", "agent"),
        "address": ("adres", "address"),
        "phone": ("toestel", "phone"),
        "request": ("verzoek", "request"),
        "minutes": ("minuten", "minutes"),
        "incidents": ("incidenten", "incidents"),
        "due": ("tijdstip", "due"),
        "wait": ("wachttijd", "wait"),
        "status": ("status", "status"),
        "role": ("rol", "role"),
        "reference": ("registratienummer", "reference"),
        "records": ("records", "records"),
        "number": ("nummer", "number"),
        "prefix": ("nummerreeks", "range"),
        "reason": ("reden", "reason"),
        "until": ("tot", "until"),
        "interfaces": ("interfaces", "interfaces"),
        "category": ("categorie", "category"),
        "queue": ("wachtrij", "queue"),
        "answer": ("antwoord", "answer"),
        "note": ("notitie", "note"),
    },
}

# Day and month names for dates on a page (strftime's own are the C locale's: English).
_DAYS = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "nl": [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def value_word(lang: str, kind: str, value: str, more: Mapping[str, tuple[str, str]] | None = None) -> str:
    """A stored value (a category, a decision, a status...) in ``lang``; the value itself when it has no word."""
    pair = (more or {}).get(value) or VALUES.get(kind, {}).get(value)
    if pair is None:
        return value
    return pair[1] if lang == "en" else pair[0]


def date_format(fmt: str, weekday: int, month: int, lang: str) -> str:
    """``fmt`` with the day and month names (%a %A %b %B) written out in ``lang``, for strftime."""
    name = _MONTHS.get(lang, _MONTHS["en"])[month - 1]
    day = _DAYS.get(lang, _DAYS["en"])[weekday]
    short = day[:2] if lang == "nl" else day[:3]
    return fmt.replace("%A", day).replace("%a", short).replace("%B", name).replace("%b", name[:3])


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
