"""``fer analyze ... --ray [ADDRESS]``: a collection of photos and videos analysed on a Ray cluster.

The paths become a Ray dataset; images go in batches to a pool of actors, each of which loads the
model and detectors once (:class:`~service.cluster.workers.ImageBatches`); videos go one task
each through the service's video pipeline (:func:`~service.cluster.workers.video_table`). Rows
are those of the in-process run (:mod:`service.files`, :mod:`service.video.timeline`), written as
Parquet and, if asked, as one CSV or JSON lines file per kind sorted by path then face (images)
or path then frame (videos), which is the in-process order for a folder.

Nothing here is imported unless ``--ray`` is given: Ray and pyarrow are the ``cluster`` extra.
"""
