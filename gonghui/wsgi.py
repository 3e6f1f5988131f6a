import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gonghui.settings")
django_application = get_wsgi_application()

# The hot lane's two endpoints are answered in front of Django (gonghui/api/lane.py).
from gonghui.api.lane import HotLane  # noqa: E402 - needs the settings and apps loaded above

application = HotLane(django_application)
