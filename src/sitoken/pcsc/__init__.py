"""PC/SC driver: readers, APDUs, and the OpenPGP card application (pyscard only in transport)."""

from __future__ import annotations
