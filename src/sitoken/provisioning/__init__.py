"""Provisioning: applicant checks, certificate profiles, the counter workflow, its journal and audit log.

``identifiers`` and ``applicant`` check what an applicant gives before any token work;
``profiles`` turns a validated applicant into a subject and extensions; ``workflow`` runs the
counter steps (token, PINs, key, request, issuer, certificate, round trip), each recorded in
the ``journal`` so a killed batch (``batch``) resumes without doing anything twice;
``lifecycle`` renews, reports losses, reissues and resets PINs; ``audit`` keeps who did what.
"""
