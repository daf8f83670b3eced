"""Helpers every web edge shares: who may see a page."""

from __future__ import annotations

import functools

from flask import abort
from flask_login import current_user, login_required


def role_required(*roles: str):
    """Signed in and holding one of `roles`; anyone else gets 403."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not any(current_user.has_role(role) for role in roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator
