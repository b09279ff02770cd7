"""The API's blueprint (/api), shared by the modules that serve under it: api.py (the merchant
backend) and status.py (the browser's polling fallback), so neither imports the other."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api")
