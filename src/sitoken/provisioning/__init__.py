"""Provisioning: applicant checks, certificate profiles, the counter workflow and its journal.

``identifiers`` parses the identifiers an applicant gives (resident ID number, Unified
Social Credit Code, mobile number, social-security card number); ``applicant`` holds the
personal and organisation applicant records, their validation (including the age rule)
and loading from JSON, CSV or Python dicts. None of it touches a token.
"""
