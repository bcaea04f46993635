"""Small reference models that exercise the platform end to end (e.g. :mod:`.iris`)."""
