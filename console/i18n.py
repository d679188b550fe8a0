"""The console's words in Dutch and English; templates call t("key")."""

from __future__ import annotations

LANGUAGES = ("nl", "en")

_T: dict[str, tuple[str, str]] = {   # key: (nl, en)
    "board": ("Live", "Live board"), "logbook": ("Logboek", "Logbook"), "bans": ("Blokkades", "Bans"),
    "warnings": ("Waarschuwingen", "Warnings"), "stats": ("Statistiek", "Statistics"), "audit": ("Audit", "Audit trail"),
    "admin": ("Beheer", "Admin"), "logout": ("Afmelden", "Log out"), "login": ("Aanmelden", "Log in"),
    "user": ("Gebruiker", "User"), "password": ("Wachtwoord", "Password"), "caller": ("Beller", "Caller"),
    "agent": ("Medewerker", "Agent"), "queue": ("Wachtrij", "Queue"), "category": ("Categorie", "Category"),
    "time": ("Tijd", "Time"), "note": ("Notitie", "Note"), "debrief": ("Nagesprek", "Debrief"),
    "open": ("open", "open"), "done": ("gedaan", "done"), "from": ("Van", "From"), "to": ("Tot", "To"),
    "filter": ("Filteren", "Filter"), "awaiting": ("Wacht op nagesprek", "Awaiting debrief"),
    "next": ("Volgende", "Next"), "prev": ("Vorige", "Previous"), "page": ("Pagina", "Page"),
    "none": ("Niets te tonen.", "Nothing to show."), "incident": ("Incident", "Incident"),
    "live_incidents": ("Incidenten vandaag", "Incidents today"), "cooldowns": ("In afkoelpauze", "In cool-down"),
    "left": ("nog", "left"), "end_now": ("Nu beëindigen", "End now"), "handovers": ("Doorverbonden naar senior vandaag", "Sent to a senior today"),
    "decision": ("Besluit nu", "Decision now"), "score": ("Score", "Score"), "window": ("venster", "window"),
    "ban": ("Blokkeren", "Ban"), "ban_now": ("Blokkade", "Ban"), "days_label": ("Aantal dagen", "Days"), "unban": ("Blokkade opheffen", "Lift ban"), "days": ("dagen", "days"),
    "reason": ("Reden", "Reason"), "until": ("Tot", "Until"), "by": ("Door", "By"), "at": ("Op", "At"),
    "allowlist": ("Uitzonderingen", "Allowlist"), "allow": ("Op uitzonderingslijst", "Allowlist"),
    "disallow": ("Van uitzonderingslijst af", "Remove from allowlist"), "number": ("Nummer", "Number"),
    "range": ("Nummerreeks", "Number range"), "kind": ("Soort", "Kind"), "source": ("Bron", "Source"),
    "warning_sent": ("Schriftelijke waarschuwing verstuurd", "Written warning sent"),
    "mark_sent": ("Markeer als verstuurd", "Mark as sent"), "letter": ("Brief", "Letter"),
    "due": ("Komen in aanmerking", "Due a warning"), "save": ("Opslaan", "Save"), "search": ("Zoeken", "Search"),
    "q_conscious": ("Heeft de medewerker bewust gereageerd?", "Did the agent react consciously?"),
    "conscious": ("Bewust", "Conscious"), "impulsive": ("Impulsief", "Impulsive"),
    "not-discussed": ("Niet besproken", "Not discussed"), "debriefed_by": ("Nagesprek door", "Debriefed by"),
    "users": ("Gebruikers", "Users"), "role": ("Rol", "Role"), "add": ("Toevoegen", "Add"), "remove": ("Verwijderen", "Remove"),
    "export": ("Inzageverzoek: export van één beller", "Subject access request: export one caller"),
    "erase": ("Vergeten (wissen)", "Erase (forget)"), "erase_confirm": ("Typ het nummer nogmaals ter bevestiging", "Type the number again to confirm"),
    "purge": ("Opschonen (bewaartermijn)", "Purge (retention)"), "action": ("Handeling", "Action"),
    "details": ("Details", "Details"), "per_day": ("Incidenten per dag", "Incidents per day"),
    "per_week": ("Incidenten per week", "Incidents per week"), "screenings": ("Screenings per besluit", "Screenings by decision"),
    "refused_banned": ("Geweigerd tijdens blokkade", "Refused while banned"), "repeat": ("Herhaalbellers", "Repeat callers"),
    "open_age": ("Open nagesprekken naar leeftijd", "Open debriefs by age"), "per_agent": ("Incidenten per medewerker", "Incidents per agent"),
    "saved": ("Opgeslagen.", "Saved."), "incidents": ("Incidenten", "Incidents"), "all": ("alle", "all"),
    "print": ("Afdrukken", "Print"), "change_pw": ("Wachtwoord wijzigen", "Change password"),
    "throttled": ("Te veel mislukte pogingen; probeer het later opnieuw.", "Too many failed attempts; try again later."),
    "bad_login": ("Onbekende gebruiker of verkeerd wachtwoord.", "Unknown user or wrong password."),
    "expired": ("Uw sessie is verlopen; meld u opnieuw aan.", "Your session has expired; please log in again."),
    "live_hint": ("Nieuwe incidenten verschijnen hier vanzelf.", "New incidents appear here by themselves."),
    "callbacks": ("Terugbelafspraken", "Callbacks"), "cb_open": ("Openstaand", "Open"),
    "cb_finished": ("Recent afgerond", "Recently finished"), "cb_due": ("Afgesproken tijd", "Due"),
    "status": ("Status", "Status"), "attempts": ("Pogingen", "Attempts"), "outcome": ("Uitkomst", "Outcome"),
    "move": ("Verzetten", "Move"), "cancel": ("Annuleren", "Cancel"),
    "cb_zone": ("Tijden in tijdzone", "Times in time zone"),
    "language": ("Taal", "Language"), "last_incident": ("Laatste incident", "Last incident"), "download": ("Download", "Download"),
}


def translate(lang: str, key: str) -> str:
    pair = _T.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]
