import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gonghui.settings")
application = get_wsgi_application()

# WSGI applications in front of Django, named in settings as MIDDLEWARE names its classes
# (the hot lane answers its two endpoints there: docs/ACTIVITIES.md "The hot lane").
for _front in reversed(settings.WSGI_FRONTS):
    application = import_string(_front)(application)
