"""RPC between the API side and the compute services, over oslo.messaging.

Requests cross the seam as versioned objects with the caller's request
context; exceptions of ``nativesnap.exception`` come back as themselves, code
and message intact (docs/architecture.md). A client capped at an older RPC API
version (``[upgrade_levels] compute``) is given the object versions that
version carried, and its serializer backports every object to them: a compute
service cannot backport an object newer than it knows, there being no
conductor to ask (docs/architecture.md, "Upgrades").

Which transport carries them is ``[DEFAULT] transport_url``: unset, the API
and the compute manager live in one process and talk through the in-process
transport below; ``rabbit://...`` puts a broker between an API process and
compute processes on other hosts.

The in-process transport is oslo.messaging's own fake driver with one
change: its listener sleeps 50 ms between polls of its queues, which would
add 25 ms on average to every call and cast; this one waits on a condition
that each delivery notifies, so a message is taken as soon as it is sent.
"""

import threading

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_messaging._drivers import base as driver_base
from oslo_messaging._drivers import impl_fake
from oslo_utils import timeutils
from oslo_utils import versionutils
from oslo_versionedobjects import base as ovo_base

from nativesnap.conf import CONF
from nativesnap import context as ns_context
from nativesnap.objects import base as obj_base

LOG = logging.getLogger(__name__)

IN_PROCESS = "inprocess"
# Exceptions from these modules are raised again on the calling side.
ALLOWED_EXMODS = ["nativesnap.exception"]

_lock = threading.Lock()
_transport = None


def in_process():
    """True when API and compute share this process (no broker)."""
    return messaging.TransportURL.parse(CONF, CONF.transport_url).transport == \
        IN_PROCESS


def safe_transport_url():
    """The transport URL without its password, for the log."""
    url = messaging.TransportURL.parse(CONF, CONF.transport_url)
    hosts = ",".join(f"{h.hostname}:{h.port}" if h.port else str(h.hostname)
                     for h in url.hosts)
    return f"{url.transport}://{hosts}/{url.virtual_host or ''}"


def get_transport():
    global _transport
    with _lock:
        if _transport is None:
            _transport = messaging.get_rpc_transport(
                CONF, url=CONF.transport_url, allowed_remote_exmods=ALLOWED_EXMODS)
        return _transport


def cleanup():
    """Close the transport (at shutdown, and between tests)."""
    global _transport
    with _lock:
        if _transport is not None:
            _transport.cleanup()
            _transport = None


class ObjectSerializer(ovo_base.VersionedObjectSerializer):
    """Objects as primitives, at their own versions or, given
    ``object_versions`` ({object name: version}, what the receiving side
    knows), backported to those."""

    OBJ_BASE_CLASS = obj_base.NativesnapObject

    def __init__(self, object_versions=None):
        super().__init__()
        self._object_versions = object_versions

    def serialize_entity(self, context, entity):
        if (self._object_versions is not None and
                isinstance(entity, ovo_base.VersionedObject)):
            return self._backported(entity)
        return super().serialize_entity(context, entity)

    def _backported(self, obj):
        name = obj.obj_name()
        target = self._object_versions.get(name)
        if target is None:
            raise ValueError(f"{name} objects did not exist at the RPC API "
                             "version the client is capped at; a method "
                             "that sends one needs a newer version")
        if (versionutils.convert_version_to_tuple(target) >
                versionutils.convert_version_to_tuple(obj.VERSION)):
            target = obj.VERSION  # itself received at an older version
        return obj.obj_to_primitive(target_version=target,
                                    version_manifest=self._object_versions)

    def deserialize_entity(self, context, entity):
        entity = super().deserialize_entity(context, entity)
        if (isinstance(entity, obj_base.NativesnapObject) and
                entity.VERSION != type(entity).VERSION):
            # Sent backported by a capped API side, or by a service of an
            # older release (docs/architecture.md, "Upgrades"): it lacks the
            # fields added since.
            LOG.debug("Received %s %s (this service's is %s)",
                      entity.obj_name(), entity.VERSION, type(entity).VERSION)
        return entity


class RequestContextSerializer(messaging.Serializer):
    """Objects through ``base``; the request context as its dict."""

    def __init__(self, base):
        self._base = base

    def serialize_entity(self, context, entity):
        return self._base.serialize_entity(context, entity)

    def deserialize_entity(self, context, entity):
        return self._base.deserialize_entity(context, entity)

    def serialize_context(self, context):
        return context.to_dict()

    def deserialize_context(self, context):
        return ns_context.RequestContext.from_dict(context)


def _serializer(object_versions=None):
    return RequestContextSerializer(ObjectSerializer(object_versions))


def get_client(target, version_cap=None, object_versions=None):
    """An RPC client; capped at ``version_cap``, it sends its objects at
    ``object_versions`` ({object name: version}), those of that version."""
    return messaging.get_rpc_client(get_transport(), target,
                                    version_cap=version_cap,
                                    serializer=_serializer(object_versions))


def get_server(target, endpoints):
    """An RPC server; only the endpoints' methods marked with
    ``oslo_messaging.expose`` can be called."""
    return messaging.get_rpc_server(
        get_transport(), target, endpoints, serializer=_serializer(),
        access_policy=messaging.ExplicitRPCAccessPolicy)


# --- the in-process transport ---------------------------------------------------


class _Exchange(impl_fake.FakeExchange):
    def __init__(self, name, arrived):
        super().__init__(name)
        self._arrived = arrived

    def deliver_message(self, *args, **kwargs):
        super().deliver_message(*args, **kwargs)
        with self._arrived:
            self._arrived.count += 1
            self._arrived.notify_all()


class _Arrivals(threading.Condition):
    """Counts deliveries, so a listener can wait for one after it looked."""

    count = 0


class _ExchangeManager(impl_fake.FakeExchangeManager):
    # Per process, like the fake driver's (separate from it).
    _exchanges_lock = threading.Lock()
    _exchanges = {}
    arrived = _Arrivals()

    def get_exchange(self, name):
        name = name or self._default_exchange
        with self._exchanges_lock:
            if name not in self._exchanges:
                self._exchanges[name] = _Exchange(name, self.arrived)
            return self._exchanges[name]


class _Listener(impl_fake.FakeListener):
    @driver_base.batch_poll_helper
    def poll(self, timeout=None):
        arrived = self._exchange_manager.arrived
        watch = timeutils.StopWatch(duration=timeout).start()
        while not self._stopped.is_set():
            with arrived:
                seen = arrived.count
            for target in self._targets:
                exchange = self._exchange_manager.get_exchange(target.exchange)
                ctxt, message, reply_q, requeue = exchange.poll(target,
                                                                self._pool)
                if message is not None:
                    return impl_fake.FakeIncomingMessage(ctxt, message,
                                                         reply_q, requeue)
            left = watch.leftover(return_none=True)
            if left is not None and left <= 0:
                return None
            with arrived:
                arrived.wait_for(
                    lambda: arrived.count != seen or self._stopped.is_set(),
                    timeout=1.0 if left is None else min(left, 1.0))
        return None

    def stop(self):
        super().stop()
        arrived = self._exchange_manager.arrived
        with arrived:
            arrived.notify_all()


class InProcessDriver(impl_fake.FakeDriver):
    """oslo.messaging's in-process driver, woken by each delivery."""

    def __init__(self, conf, url, default_exchange=None,
                 allowed_remote_exmods=None):
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        self._exchange_manager = _ExchangeManager(default_exchange)

    def listen(self, target, batch_size, batch_timeout):
        exchange = target.exchange or self._default_exchange
        listener = _Listener(self._exchange_manager, [
            messaging.Target(topic=target.topic, server=target.server,
                             exchange=exchange),
            messaging.Target(topic=target.topic, exchange=exchange)])
        return driver_base.PollStyleListenerAdapter(listener, batch_size,
                                                    batch_timeout)
