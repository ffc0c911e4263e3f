"""Bulk runs over a folder or a Cloud Storage prefix: the storage and sharding layer.

::

    locations.py   SRC / DST text -> LocalLocation | GcsLocation
    store.py       the Store protocol, Item, WriteResult
    stores.py      open_store(): the store a location names
    local.py       LocalStore: a folder; atomic writes, metadata in sidecar files
    gcs.py         GcsStore: a bucket prefix through google-cloud-storage (the gcs extra)
    shard.py       which items a task owns: a stable hash of the name, mod N
    provenance.py  what makes an output up to date, stored in the output's metadata
    report.py      one JSON line per item, per shard, and a summary
    errors.py      StorageNotFoundError, StoragePermissionError (under cutout.errors.StorageError)

Nothing here runs a model: a command takes items from a store, decides with
:func:`~cutout.batch.provenance.is_current` what needs work, and writes outputs and
reports back through a store. See docs/batch.md for the guarantees.
"""
