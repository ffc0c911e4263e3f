"""The HTTP API: the app factory (:mod:`cutout.server.app`), one router per API surface, and
the batcher, limits, auth, metrics and logs they share. Nothing is imported here, so that
``import cutout.server.app`` costs only what the app needs."""
