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
    plan.py        a shard's work from the two listings: sources, output names, refusals
    pipeline.py    the scheduler: io threads, cpu threads and the model thread, bounded queues
    runner.py      one shard: judge, read, run the model's stages, write, report

Nothing here knows the engine: the runner drives any object with its three stages
(``prepare / infer / finish``, :class:`~cutout.batch.runner.Model`), which the CLI
fills with an :class:`~cutout.engine.Engine`. See docs/batch.md for the guarantees.
"""
