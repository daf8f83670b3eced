from flask import render_template

from app import clock, reports
from volunteers import bp


@bp.route("/")
def index():
    return render_template("volunteers/index.html", figures=reports.street_figures(clock.now()))
