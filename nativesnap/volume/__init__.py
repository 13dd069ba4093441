"""Block storage peers nativesnap calls: Cinder (``cinder.CinderAPI``)."""
