"""A service of an older release, as far as its objects go: the registry
holding, for one object name, only a class of an older version with the
fields that version had. What such a service makes of a primitive is what
it makes of it here."""

from nativesnap.objects import base


def older_class(cls, version, without):
    """``cls`` as it was at ``version``: its fields but ``without``."""
    fields = {name: field for name, field in cls.fields.items()
              if name not in without}
    older = type(cls.obj_name(), (base.NativesnapObject,),
                 {"VERSION": version, "fields": fields,
                  "__module__": __name__})
    # Field properties, as registering makes them, without registering.
    return base.NativesnapObjectRegistry.register_if(False)(older)


def knows_only(monkeypatch, older):
    """From now until the test ends, ``older`` is the only class of its
    name this process knows."""
    monkeypatch.setitem(base.NativesnapObjectRegistry.obj_classes(),
                        older.obj_name(), [older])
