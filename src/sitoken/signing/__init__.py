"""Signing above the token: CMS SignedData (cms) and the one-shot and batch signers."""
