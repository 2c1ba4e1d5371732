"""The Flask extensions: created here, attached to the app in ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from didactics.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Storage comes from RATELIMIT_STORAGE_URI: a SQLite file every worker shares by default
# (didactics/ratelimit.py), redis:// when several hosts serve the app.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
