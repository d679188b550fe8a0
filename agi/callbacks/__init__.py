"""Callback appointments (issue 11): the agent ends a call with an agreed time; the PBX calls back.

``model`` is the typed record, ``rules`` the pure scheduling rules, ``service`` the functions
the CLI (and the console) call, ``placer`` the background job that places due appointments.
"""
