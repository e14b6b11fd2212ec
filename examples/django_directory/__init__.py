"""The patient directory as a Django project: settings (``ACCESSGUARD``), URLs, views, ``wsgi.py``."""
