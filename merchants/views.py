from flask import render_template
from flask_login import current_user

from app import shops
from app.web import role_required
from merchants import bp


@bp.route("/")
@role_required("merchant")
def index():
    return render_template("merchants/index.html", shops=shops.operated_by(current_user))
