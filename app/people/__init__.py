"""People: residents and users, the organisation tree, teams, sign-in codes, resident imports,
API tokens.
"""
