"""Operations that span objects: they work on several objects and the backend at once.

* :mod:`.reconcile`: what ``backend.gc()`` does after a crash: records left in
  transitional states, and storage objects no record knows of.
* :mod:`.from_image`: ``backend.create_volume(size, image=...)`` through the local
  image cache (tier 1) and cached image-volumes (tier 2).
"""
