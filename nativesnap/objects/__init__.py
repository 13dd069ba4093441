"""Versioned objects: the only things the API and the manager pass around."""


def register_all():
    # Importing the modules registers the classes with the registry.
    __import__("nativesnap.objects.server")
    __import__("nativesnap.objects.snapshot")
    __import__("nativesnap.objects.image")
    __import__("nativesnap.objects.volume_operation")
    __import__("nativesnap.objects.volume_attachment")
    __import__("nativesnap.objects.baremetal_node")
    __import__("nativesnap.objects.service")
    __import__("nativesnap.objects.policy")
    __import__("nativesnap.objects.queued_request")

